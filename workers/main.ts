import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createRuntime } from '../activities/runtime';
import { dataConverterFromEnv, encryptionSummary } from '../encryption';
import { temporalSettings } from './connection';
import { createLogger, ScrubbingLogger } from './logging';

/** `idflow worker`: polls task queue `idflow` until SIGINT or SIGTERM, then drains and exits. */
export async function runWorker(): Promise<void> {
  // Before anything touches the SDK's runtime: its logs, activity failures included, go through the scrubbing logger.
  Runtime.install({ logger: new ScrubbingLogger(createLogger()) });
  const settings = temporalSettings();
  // A bad key configuration (or production mode without a key) fails here, before anything runs.
  const dataConverter = dataConverterFromEnv();
  const runtime = createRuntime();
  const connection = await NativeConnection.connect({ address: settings.address, tls: settings.tls, apiKey: settings.apiKey });
  try {
    const worker = await Worker.create({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      workflowsPath: require.resolve('../workflows'),
      activities: createActivities(runtime),
      dataConverter,
      shutdownGraceTime: '10s',
    });
    console.error(`idflow worker: task queue "${settings.taskQueue}" on ${settings.address} (namespace ${settings.namespace}), config ${runtime.configVersion}, targets ${[...runtime.connectors.keys()].join(', ')}, ${encryptionSummary()}`);
    // Worker.run() installs SIGINT/SIGTERM handlers that stop polling and let running tasks finish.
    await worker.run();
  } finally {
    await connection.close();
  }
}
