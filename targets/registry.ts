import type { TargetConfig } from '../domain/config';
import type { TargetRules } from '../domain/mapping';
import { IamConnector } from './aws-iam/connector';
import { iamRules } from './aws-iam/rules';
import type { TargetConnector } from './connector';
import { ScimConnector } from './scim/connector';
import { scimRules } from './scim/rules';

/**
 * One entry per target kind: its connector factory and its mapping rules. The mapped type makes a
 * kind the config accepts without an entry here a compile error, so no kind ever falls through to
 * another's connector or rules.
 */
type Kind = TargetConfig['type'];
type ConfigOf<K extends Kind> = Extract<TargetConfig, { type: K }>;
interface TargetKind<K extends Kind> {
  connector: (name: string, config: ConfigOf<K>, instance: string) => TargetConnector;
  rules: TargetRules;
}

const KINDS: { [K in Kind]: TargetKind<K> } = {
  'aws-iam': { connector: (name, config, instance) => new IamConnector(name, config, instance), rules: iamRules },
  scim: { connector: (name, config, instance) => new ScimConnector(name, config, instance), rules: scimRules },
};

export const TARGET_KINDS = Object.keys(KINDS) as Kind[];

function kindOf(name: string, type: unknown): TargetKind<Kind> {
  const kind = KINDS[type as Kind] as TargetKind<Kind> | undefined;
  if (!kind) throw new Error(`target "${name}": no connector for type "${String(type)}" (known: ${TARGET_KINDS.join(', ')})`);
  return kind;
}

export function createConnector(name: string, config: TargetConfig, instance: string): TargetConnector {
  return kindOf(name, config.type).connector(name, config, instance);
}

export function targetRules(type: Kind): TargetRules {
  return kindOf(type, type).rules;
}
