import { configSchema } from '../domain/config';
import { type ConfigPlugins, type LoadedConfig, parseConfig } from '../domain/config-load';
import { DEFAULT_SOURCE, sourceCatalogue, SourceSchema } from '../sources/registry';
import { TargetSchema, targetRules } from '../targets/registry';

/** The registries as the config sees them: each kind's settings, each source's catalogue, each target's rules. */
export const PLUGINS: ConfigPlugins = {
  schema: configSchema({ source: SourceSchema, defaultSource: DEFAULT_SOURCE, target: TargetSchema }),
  catalogueFor: sourceCatalogue,
  rulesFor: targetRules,
};

/** Config text parsed and checked against the registered kinds. */
export function parseIdflowConfig(text: string, file: string, env: Readonly<Record<string, string | undefined>>): LoadedConfig {
  return parseConfig(text, file, env, PLUGINS);
}
