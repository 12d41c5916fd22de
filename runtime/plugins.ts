import { type LoadedConfig, parseConfig } from '../domain/config-load';
import type { MappingPlugins } from '../domain/mapping';
import { sourceCatalogue } from '../sources/registry';
import { targetRules } from '../targets/registry';

/** The registries' view a config is checked against: each source kind's catalogue, each target kind's rules. */
export const PLUGINS: MappingPlugins = { catalogueFor: sourceCatalogue, rulesFor: targetRules };

/** Config text parsed and checked against the registered plug-ins. */
export function parseIdflowConfig(text: string, file: string, env: Readonly<Record<string, string | undefined>>): LoadedConfig {
  return parseConfig(text, file, env, PLUGINS);
}
