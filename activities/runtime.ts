import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { parseConfig, type LoadedConfig } from '../domain/config-load';
import { graphSelect, referencedGroups } from '../domain/mapping';
import { createGraphClient, credentialFromEnv } from './graph/client';
import { GraphSource } from './graph/source';
import type { TargetConnector } from './targets/connector';
import { createConnector } from './targets/registry';

/** What the worker's activities share: the loaded config, the source and one connector per target. */
export interface Runtime {
  loaded: LoadedConfig;
  /** Fingerprint of the config file, recorded in activity results as evidence of which rules applied. */
  configVersion: string;
  select: string[];
  source: GraphSource;
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
  return { ...parseConfig(text, path, env), version: createHash('sha256').update(text).digest('hex').slice(0, 12) };
}

export function createRuntime(path = configPath(), env: NodeJS.ProcessEnv = process.env): Runtime {
  const loaded = loadConfigFile(path, env);
  const { config } = loaded;
  const source = new GraphSource(createGraphClient({ baseUrl: config.source.graphBaseUrl, trustedHosts: config.source.trustedHosts }, credentialFromEnv(env)), referencedGroups(loaded.targets));
  const connectors = new Map<string, TargetConnector>();
  for (const [name, target] of Object.entries(config.targets)) {
    if (!target.enabled) continue;
    connectors.set(name, createConnector(name, target, config.instance));
  }
  return { loaded, configVersion: loaded.version, select: graphSelect(loaded.targets), source, connectors };
}

/** The connector an activity input names; a target this worker does not run is a config error, not retried. */
export function connectorFor(runtime: Runtime, target: string): TargetConnector {
  const c = runtime.connectors.get(target);
  if (!c) throw ApplicationFailure.nonRetryable(`target "${target}" is not configured or not enabled on this worker`, 'Config.unknownTarget');
  return c;
}
