import { Client, Connection } from '@temporalio/client';
import { createRuntime, type Runtime } from '../activities/runtime';
import { ConfigError } from '../domain/config-load';
import { dataConverterFromEnv } from '../encryption';
import { temporalSettings } from '../workers/connection';

/** A Temporal client for one command; the caller closes it. */
export async function connectClient(): Promise<{ client: Client; taskQueue: string; close: () => Promise<void> }> {
  const settings = temporalSettings();
  const dataConverter = dataConverterFromEnv();
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: settings.address, tls: settings.tls, apiKey: settings.apiKey, connectTimeout: '5s' });
  } catch (err) {
    throw new CliError(`cannot reach Temporal at ${settings.address} (namespace ${settings.namespace}): ${(err as Error).message}. Is the stack running (idflow dev)?`);
  }
  return { client: new Client({ connection, namespace: settings.namespace, dataConverter }), taskQueue: settings.taskQueue, close: () => connection.close() };
}

/** An error whose message is the whole story for the user: printed without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** The worker's config, source and connectors, for a command that reads them itself; a broken config exits 2. */
export function cliRuntime(why?: string): Runtime {
  try {
    return createRuntime();
  } catch (err) {
    throw new CliError(`${why ? `${why}: ` : ''}${(err as Error).message}`, err instanceof ConfigError ? 2 : 1);
  }
}
