import { z } from 'zod';
import { TargetCommon } from '../../domain/config';

/** An `aws-iam` target's settings. Credentials come from the AWS SDK's usual chain, never the config. */
export const IamTargetSchema = z.strictObject({
  type: z.literal('aws-iam'),
  ...TargetCommon,
  region: z.string().min(1).default('us-east-1'),
  /** Override the IAM endpoint (moto locally). */
  endpoint: z.string().url().optional(),
  /** IAM path for users and groups idflow creates; ownership is checked against it. */
  path: z.string().regex(/^\/([\x21-\x7e]+\/)?$/, 'an IAM path such as /idflow/').max(512).default('/idflow/'),
});

export type IamTargetConfig = z.infer<typeof IamTargetSchema>;
