import { z } from 'zod';

/** An `entra` source's settings. Credentials come from the worker's environment (sources/entra/client.ts). */
export const EntraSourceSchema = z.strictObject({
  type: z.literal('entra'),
  /** Graph base URL; the simulator's when running locally. */
  graphBaseUrl: z.string().url().default('https://graph.microsoft.com/'),
  /** Hosts besides Microsoft's that may receive the Graph bearer token (bare host names). */
  trustedHosts: z.array(z.string()).default([]),
});

export type EntraSourceConfig = z.infer<typeof EntraSourceSchema>;

export const DEFAULT_ENTRA_SOURCE: EntraSourceConfig = { type: 'entra', graphBaseUrl: 'https://graph.microsoft.com/', trustedHosts: [] };
