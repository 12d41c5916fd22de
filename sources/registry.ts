import { z } from 'zod';
import type { SourceConfig } from '../domain/config';
import type { SourceCatalogue } from '../domain/mapping';
import { createEntraSource } from './entra/adapter';
import { ENTRA_CATALOGUE } from './entra/attributes';
import { DEFAULT_ENTRA_SOURCE, type EntraSourceConfig, EntraSourceSchema } from './entra/config';
import type { IdentitySource } from './source';

/**
 * One entry per source kind: its config schema, its attribute catalogue (what mappings are checked
 * against) and its factory. As with targets, a kind without an entry is a compile error.
 */
interface KindConfigs {
  entra: EntraSourceConfig;
}

interface SourceKind<C extends SourceConfig> {
  schema: z.ZodType<C>;
  catalogue: SourceCatalogue;
  /** `referencedGroups`: the only groups whose memberships the source reads (group minimisation). */
  create: (config: C, referencedGroups: readonly string[], env: NodeJS.ProcessEnv) => IdentitySource;
  /** What `idflow config check` shows of the kind's settings. */
  summary: (config: C) => Record<string, string>;
}

type Kind = keyof KindConfigs;

const KINDS: { [K in Kind]: SourceKind<KindConfigs[K]> } = {
  entra: { schema: EntraSourceSchema, catalogue: ENTRA_CATALOGUE, create: createEntraSource, summary: (c) => ({ graph: c.graphBaseUrl }) },
};

export const SOURCE_KINDS = Object.keys(KINDS) as Kind[];

/** The first kind is the default: a config written before sources were plug-ins names no type, and meant Entra ID. */
export const DEFAULT_SOURCE: SourceConfig = DEFAULT_ENTRA_SOURCE;

/** The source's settings: exactly one registered kind's, chosen by `type` (Entra ID when left out). */
export const SourceSchema: z.ZodType<SourceConfig> = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !('type' in v) ? { ...v, type: DEFAULT_SOURCE.type } : v),
  z.discriminatedUnion('type', SOURCE_KINDS.map((k) => KINDS[k].schema) as unknown as [typeof EntraSourceSchema]),
);

function kindOf(type: string): SourceKind<SourceConfig> {
  const kind = (KINDS as unknown as Record<string, SourceKind<SourceConfig> | undefined>)[type];
  if (!kind) throw new Error(`source: no adapter for type "${type}" (known: ${SOURCE_KINDS.join(', ')})`);
  return kind;
}

export function createSource(config: SourceConfig, referencedGroups: readonly string[], env: NodeJS.ProcessEnv): IdentitySource {
  return kindOf(config.type).create(config, referencedGroups, env);
}

export function sourceCatalogue(type: string): SourceCatalogue {
  return kindOf(type).catalogue;
}

export function sourceSummary(config: SourceConfig): Record<string, string> {
  return kindOf(config.type).summary(config);
}
