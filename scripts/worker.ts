import { Command } from 'commander';
import { runWorker } from '../workers/main';

export function workerCommand(): Command {
  return new Command('worker')
    .description('run an idflow worker on task queue "idflow" (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or TEMPORAL_TLS_*)')
    .action(async () => {
      await runWorker();
    });
}
