import type { SourceConfig } from '../domain/config';
import type { SourceCatalogue } from '../domain/mapping';
import { createEntraSource } from './entra/adapter';
import { ENTRA_CATALOGUE } from './entra/attributes';
import type { IdentitySource } from './source';

/**
 * One entry per source kind: its attribute catalogue (what mappings are checked against) and its
 * factory. As with targets, a kind the config accepts without an entry here is a compile error.
 */
type Kind = SourceConfig['type'];
type ConfigOf<K extends Kind> = Extract<SourceConfig, { type: K }>;
interface SourceKind<K extends Kind> {
  catalogue: SourceCatalogue;
  /** `referencedGroups`: the only groups whose memberships the source reads (group minimisation). */
  create: (config: ConfigOf<K>, referencedGroups: readonly string[], env: NodeJS.ProcessEnv) => IdentitySource;
}

const KINDS: { [K in Kind]: SourceKind<K> } = {
  entra: { catalogue: ENTRA_CATALOGUE, create: createEntraSource },
};

export const SOURCE_KINDS = Object.keys(KINDS) as Kind[];

function kindOf(type: unknown): SourceKind<Kind> {
  const kind = KINDS[type as Kind] as SourceKind<Kind> | undefined;
  if (!kind) throw new Error(`source: no adapter for type "${String(type)}" (known: ${SOURCE_KINDS.join(', ')})`);
  return kind;
}

export function createSource(config: SourceConfig, referencedGroups: readonly string[], env: NodeJS.ProcessEnv): IdentitySource {
  return kindOf(config.type).create(config, referencedGroups, env);
}

export function sourceCatalogue(type: Kind): SourceCatalogue {
  return kindOf(type).catalogue;
}
