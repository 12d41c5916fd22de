import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import type { LoadedConfig } from '../domain/config-load';
import { referencedGroups, sourceSelect } from '../domain/mapping';
import { parseIdflowConfig } from '../runtime/plugins';
import { createSource } from '../sources/registry';
import type { IdentitySource } from '../sources/source';
import type { TargetConnector } from '../targets/connector';
import { createConnector } from '../targets/registry';

/** What the worker's activities share: the loaded config, the source and one connector per target. */
export interface Runtime {
  loaded: LoadedConfig;
  /** Fingerprint of the config file, recorded in activity results as evidence of which rules applied. */
  configVersion: string;
  select: string[];
  source: IdentitySource;
  connectors: Map<string, TargetConnector>;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.IDFLOW_CONFIG ?? 'idflow.config.yaml';
}

export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig & { version: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return { ...parseIdflowConfig(text, path, env), version: createHash('sha256').update(text).digest('hex').slice(0, 12) };
}

export function createRuntime(path = configPath(), env: NodeJS.ProcessEnv = process.env): Runtime {
  const loaded = loadConfigFile(path, env);
  const { config } = loaded;
  const source = createSource(config.source, referencedGroups(loaded.targets), env);
  const connectors = new Map<string, TargetConnector>();
  for (const [name, target] of Object.entries(config.targets)) {
    if (!target.enabled) continue;
    connectors.set(name, createConnector(name, target, config.instance));
  }
  return { loaded, configVersion: loaded.version, select: sourceSelect(loaded.targets, source.catalogue), source, connectors };
}

/** The connector an activity input names; a target this worker does not run is a config error, not retried. */
export function connectorFor(runtime: Runtime, target: string): TargetConnector {
  const c = runtime.connectors.get(target);
  if (!c) throw ApplicationFailure.nonRetryable(`target "${target}" is not configured or not enabled on this worker`, 'Config.unknownTarget');
  return c;
}
