import { z } from 'zod';
import type { TargetConfig } from '../domain/config';
import type { TargetRules } from '../domain/mapping';
import { type IamTargetConfig, IamTargetSchema } from './aws-iam/config';
import { IamConnector } from './aws-iam/connector';
import { iamRules } from './aws-iam/rules';
import type { TargetConnector } from './connector';
import { type ScimTargetConfig, ScimTargetSchema } from './scim/config';
import { ScimConnector } from './scim/connector';
import { scimRules } from './scim/rules';

/**
 * One entry per target kind: its config schema, its connector factory and its mapping rules. Adding
 * a kind is its folder under targets/ and one line in each of the two tables below; the mapped type
 * makes a kind without an entry a compile error, so no kind falls through to another's connector.
 */
interface KindConfigs {
  'aws-iam': IamTargetConfig;
  scim: ScimTargetConfig;
}

interface TargetKind<C extends TargetConfig> {
  schema: z.ZodType<C>;
  connector: (name: string, config: C, instance: string) => TargetConnector;
  rules: TargetRules;
  /** What `idflow config check` says of the kind's own settings (a secret's presence, never its value). */
  summary?: (config: C, env: NodeJS.ProcessEnv) => Record<string, string>;
}

type Kind = keyof KindConfigs;

const KINDS: { [K in Kind]: TargetKind<KindConfigs[K]> } = {
  'aws-iam': { schema: IamTargetSchema, connector: (name, config, instance) => new IamConnector(name, config, instance), rules: iamRules },
  scim: {
    schema: ScimTargetSchema,
    connector: (name, config, instance) => new ScimConnector(name, config, instance),
    rules: scimRules,
    summary: (config, env) => ({ token: `${config.tokenEnv} ${env[config.tokenEnv] ? 'is set' : 'is NOT set'}` }),
  },
};

export const TARGET_KINDS = Object.keys(KINDS) as Kind[];

/** A target's settings: exactly one registered kind's, chosen by `type`. */
export const TargetSchema: z.ZodType<TargetConfig> = z.discriminatedUnion(
  'type',
  TARGET_KINDS.map((k) => KINDS[k].schema) as unknown as [typeof IamTargetSchema, typeof ScimTargetSchema],
);

function kindOf(name: string, type: string): TargetKind<TargetConfig> {
  const kind = (KINDS as unknown as Record<string, TargetKind<TargetConfig> | undefined>)[type];
  if (!kind) throw new Error(`target "${name}": no connector for type "${type}" (known: ${TARGET_KINDS.join(', ')})`);
  return kind;
}

/** The connector for a target whose settings the config schema accepted (so they are its kind's). */
export function createConnector(name: string, config: TargetConfig, instance: string): TargetConnector {
  return kindOf(name, config.type).connector(name, config, instance);
}

export function targetRules(type: string): TargetRules {
  return kindOf(type, type).rules;
}

export function targetSummary(config: TargetConfig, env: NodeJS.ProcessEnv): Record<string, string> {
  return kindOf(config.type, config.type).summary?.(config, env) ?? {};
}
