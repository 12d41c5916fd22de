import { z } from 'zod';
import { TargetCommon } from '../../domain/config';

/** A `scim` target's settings: the app's base URL, and the environment variable that holds its token. */
export const ScimTargetSchema = z.strictObject({
  type: z.literal('scim'),
  ...TargetCommon,
  baseUrl: z.string().url(),
  /** Name of the environment variable that holds the bearer token. */
  tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name'),
});

export type ScimTargetConfig = z.infer<typeof ScimTargetSchema>;
