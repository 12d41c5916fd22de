import type { TargetConfig } from '../../domain/config';
import type { TargetConnector } from './connector';
import { IamConnector } from './iam';
import { ScimConnector } from './scim';

/**
 * One connector factory per target kind. The mapped type makes a kind the config accepts without a
 * factory here a compile error, so no kind ever falls through to another's connector.
 */
type Kind = TargetConfig['type'];
type ConfigOf<K extends Kind> = Extract<TargetConfig, { type: K }>;
type Factory<K extends Kind> = (name: string, config: ConfigOf<K>, instance: string) => TargetConnector;

const FACTORIES: { [K in Kind]: Factory<K> } = {
  'aws-iam': (name, config, instance) => new IamConnector(name, config, instance),
  scim: (name, config, instance) => new ScimConnector(name, config, instance),
};

export const TARGET_KINDS = Object.keys(FACTORIES) as Kind[];

export function createConnector(name: string, config: TargetConfig, instance: string): TargetConnector {
  const factory = FACTORIES[config.type] as Factory<Kind> | undefined;
  if (!factory) throw new Error(`target "${name}": no connector for type "${String((config as { type: unknown }).type)}" (known: ${TARGET_KINDS.join(', ')})`);
  return factory(name, config, instance);
}
