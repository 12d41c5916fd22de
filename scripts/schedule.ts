import type { Duration } from '@temporalio/common';
import { type Client, ScheduleNotFoundError, ScheduleOverlapPolicy, type ScheduleOptionsAction } from '@temporalio/client';
import { Command } from 'commander';
import type { ScheduleConfig } from '../domain/config';
import { ConfigError } from '../domain/config-load';
import { configPath, loadConfigFile } from '../activities/runtime';
import { deltaSyncWorkflow } from '../workflows/delta-sync';
import { reconcileWorkflow } from '../workflows/reconcile';
import { CliError, connectClient } from './client';

/** The schedules idflow manages, by config key. */
const SCHEDULES = {
  reconcile: { id: 'idflow-reconcile', workflow: reconcileWorkflow, note: 'full reconcile with drift repair' },
  deltaSync: { id: 'idflow-delta-sync', workflow: deltaSyncWorkflow, note: 'Entra ID delta sync' },
} as const;
type ScheduleKey = keyof typeof SCHEDULES;

/** `idflow schedule`: Temporal Schedules for reconcile and delta sync. idflow has no scheduler of its own. */
export function scheduleCommand(): Command {
  const cmd = new Command('schedule').description('manage the Temporal Schedules for reconcile and delta sync');
  cmd
    .command('apply')
    .description('create or update the schedules from the config (and delete those the config no longer has)')
    .option('-c, --config <file>', 'config file (default $IDFLOW_CONFIG or idflow.config.yaml)')
    .action(async (opts: { config?: string }) => {
      const schedules = readSchedules(opts.config ?? configPath());
      await withClient(async (client, taskQueue) => {
        for (const key of Object.keys(SCHEDULES) as ScheduleKey[]) {
          const wanted = schedules[key];
          const { id, workflow, note } = SCHEDULES[key];
          const handle = client.schedule.getHandle(id);
          const exists = await handle.describe().then(() => true, (err) => (err instanceof ScheduleNotFoundError ? false : Promise.reject(err)));
          if (!wanted) {
            if (exists) {
              await handle.delete();
              console.log(`${id}: deleted (not in the config)`);
            }
            continue;
          }
          const spec = wanted.every ? { intervals: [{ every: wanted.every as Duration }] } : { cronExpressions: [wanted.cron!] };
          const action: ScheduleOptionsAction = { type: 'startWorkflow', workflowType: workflow, taskQueue, args: [{}], workflowId: `${id}-run` };
          if (exists) {
            let heldPaused: string | null = null;
            await handle.update((prev) => {
              // An operator's pause (during an incident, say) outranks the config: only unpause resumes it.
              heldPaused = prev.state.paused && !wanted.paused ? (prev.state.note ?? '') : null;
              return { ...prev, spec, action, state: { ...prev.state, paused: wanted.paused || prev.state.paused } };
            });
            console.log(`${id}: updated (${describeSpec(wanted)})${heldPaused !== null ? `; left paused${heldPaused ? ` (${heldPaused})` : ''}: idflow schedule unpause ${key === 'deltaSync' ? 'delta-sync' : key} resumes it` : ''}`);
          } else {
            await client.schedule.create({ scheduleId: id, spec, action, policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '10 minutes' }, state: { paused: wanted.paused, note } });
            console.log(`${id}: created (${describeSpec(wanted)})`);
          }
        }
      });
    });
  for (const verb of ['pause', 'unpause', 'trigger', 'describe'] as const) {
    cmd
      .command(verb)
      .description(`${verb} a schedule`)
      .argument('<schedule>', 'reconcile or delta-sync')
      .option('--note <text>', 'why (pause/unpause)')
      .action(async (name: string, opts: { note?: string }) => {
        const key = name === 'delta-sync' || name === 'deltaSync' ? 'deltaSync' : name === 'reconcile' ? 'reconcile' : null;
        if (!key) throw new CliError(`unknown schedule "${name}"; use reconcile or delta-sync`, 2);
        await withClient(async (client) => {
          const handle = client.schedule.getHandle(SCHEDULES[key].id);
          try {
            if (verb === 'pause') await handle.pause(opts.note);
            else if (verb === 'unpause') await handle.unpause(opts.note);
            else if (verb === 'trigger') await handle.trigger(ScheduleOverlapPolicy.SKIP);
            else {
              const d = await handle.describe();
              console.log(JSON.stringify({ id: d.scheduleId, paused: d.state.paused, note: d.state.note, spec: d.spec, nextActionTimes: d.info.nextActionTimes, recentActions: d.info.recentActions.map((a) => ({ at: a.takenAt, workflowId: a.action.workflow.workflowId })) }, null, 2));
              return;
            }
          } catch (err) {
            if (err instanceof ScheduleNotFoundError) throw new CliError(`schedule ${SCHEDULES[key].id} does not exist; run idflow schedule apply`);
            throw err;
          }
          console.log(`${SCHEDULES[key].id}: ${verb === 'trigger' ? 'triggered' : `${verb}d`}`);
        });
      });
  }
  return cmd;
}

function readSchedules(file: string): Partial<Record<ScheduleKey, ScheduleConfig>> {
  try {
    return loadConfigFile(file).config.schedules;
  } catch (err) {
    throw new CliError((err as Error).message, err instanceof ConfigError ? 2 : 1);
  }
}

async function withClient(fn: (client: Client, taskQueue: string) => Promise<void>): Promise<void> {
  const { client, taskQueue, close } = await connectClient();
  try {
    await fn(client, taskQueue);
  } finally {
    await close();
  }
}

function describeSpec(s: ScheduleConfig): string {
  return `${s.every ? `every ${s.every}` : `cron ${s.cron}`}${s.paused ? ', paused' : ''}`;
}
