import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { awaitEventOutcome, signalIdentity } from '../client/identity';
import { EVENT_TYPES, type HrEvent, InvalidEventError, parseHrEvent } from '../domain/events';
import { type EventOutcome, statusQuery } from '../workflows/identity';
import { currentPrincipal } from '../client/principal';
import { temporalSettings } from '../workers/connection';
import { CliError, connectClient } from './client';

/** `idflow event <type>`: validates an HR event, then hands it to that person's workflow. */
export function eventCommand(): Command {
  const cmd = new Command('event').description('send HR lifecycle events (joiner, mover, leaver, rehire)');
  for (const type of EVENT_TYPES) {
    cmd
      .command(type)
      .description(`send a ${type} event for one employee`)
      .requiredOption('--employee-id <id>', 'the employee id as in Entra ID (employeeId)')
      .option('--effective-at <iso-8601>', 'when the change takes effect (default now)')
      .option('--event-id <id>', 'idempotency key: an event id already processed is not processed again')
      .option('--note <text>', 'free text for the audit trail, e.g. the HR ticket')
      .option('--wait', 'wait until the event is provisioned and verified, and print the outcome')
      .addOption(new Option('--timeout <seconds>', 'how long --wait waits').default('120').argParser(seconds('--timeout')))
      .option('--json', 'print machine-readable output')
      .action(async (opts: { employeeId: string; effectiveAt?: string; eventId?: string; note?: string; wait?: boolean; timeout: string; json?: boolean }) => {
        const event = validate({ type, employeeId: opts.employeeId, effectiveAt: opts.effectiveAt, eventId: opts.eventId ?? randomUUID(), note: opts.note });
        await sendEvents([event], { wait: opts.wait, timeoutSeconds: Number(opts.timeout), json: opts.json });
      });
  }
  cmd
    .command('batch')
    .description('send many events from a JSON file (an array of events, or one per line); "-" reads stdin')
    .argument('<file>', 'JSON or JSON-lines file')
    .option('--wait', 'wait for every event to be provisioned and verified')
    .addOption(new Option('--timeout <seconds>', 'how long --wait waits').default('300').argParser(seconds('--timeout')))
    .option('--json', 'print machine-readable output')
    .option('--allow-empty', 'succeed when the file holds no events (otherwise an empty export is an error)')
    .action(async (file: string, opts: { wait?: boolean; timeout: string; json?: boolean; allowEmpty?: boolean }) => {
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      const raw = parseEventsFile(text, file);
      if (raw.length === 0) {
        // An HR export that silently produced nothing is the failure idflow exists to catch.
        if (!opts.allowEmpty) throw new CliError(`${file === '-' ? 'stdin' : file} holds no events; pass --allow-empty if an empty batch is expected`, 2);
        if (opts.json) console.log('[]');
        else console.log('no events to send');
        return;
      }
      // Every event is checked before any is sent: a bad line never leaves half a batch behind.
      const events = raw.map((r, i) => validate(r, `event ${i + 1}`)).map((e) => ({ ...e, eventId: e.eventId ?? randomUUID() }));
      await sendEvents(events, { wait: opts.wait, timeoutSeconds: Number(opts.timeout), json: opts.json });
    });
  return cmd;
}

/** A whole number of seconds, at least 1: `--timeout abc` is an error, not an immediate time-out. */
function seconds(flag: string): (value: string) => string {
  return (value) => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1) throw new InvalidArgumentError(`${flag} must be a whole number of seconds (at least 1), not "${value}"`);
    return value.trim();
  };
}

function validate(input: unknown, where?: string): HrEvent {
  const clean = typeof input === 'object' && input !== null && !Array.isArray(input) ? Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined)) : input;
  try {
    return parseHrEvent(clean);
  } catch (err) {
    if (err instanceof InvalidEventError) throw new CliError(`${where ? `${where}: ` : ''}${err.message}`, 2);
    throw err;
  }
}

function parseEventsFile(text: string, file: string): Record<string, unknown>[] {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('[')) return JSON.parse(trimmed) as Record<string, unknown>[];
    return trimmed.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  } catch (err) {
    throw new CliError(`${file} is not JSON or JSON lines: ${(err as Error).message}`, 2);
  }
}

export async function sendEvents(events: HrEvent[], opts: { wait?: boolean; timeoutSeconds: number; json?: boolean }): Promise<EventOutcome[]> {
  const { client, taskQueue, close } = await connectClient();
  try {
    const sent: { event: HrEvent; workflowId: string }[] = [];
    // The sender is whoever runs this, never what a file says: four eyes rest on it.
    const requestedBy = currentPrincipal(temporalSettings()).name;
    for (const given of events) {
      const event = { ...given, requestedBy };
      const workflowId = await signalIdentity(client, taskQueue, event);
      sent.push({ event, workflowId });
      if (!opts.json) console.log(`sent ${event.type} for ${event.employeeId} (event ${event.eventId}) to workflow ${workflowId}`);
    }
    if (!opts.wait) {
      if (opts.json) console.log(JSON.stringify(sent.map((s) => ({ eventId: s.event.eventId, workflowId: s.workflowId }))));
      return [];
    }
    const deadline = Date.now() + opts.timeoutSeconds * 1000;
    const outcomes: EventOutcome[] = [];
    for (const { event, workflowId } of sent) {
      const outcome = await awaitEventOutcome(client.workflow.getHandle(workflowId), event.eventId!, deadline);
      if (!outcome) {
        const handle = client.workflow.getHandle(workflowId);
        const waiting = await handle.query(statusQuery).then((st) => st.waiting, () => null);
        if (waiting?.includes('mass-revocation guard')) throw new CliError(`event ${event.eventId} is ${waiting}`, 6);
        const busy = await activitiesUnderWay(handle, client);
        if (busy) throw new CliError(`event ${event.eventId} is not decided yet: ${busy}; the worker keeps at it (idflow status ${event.employeeId})`, 4);
        throw new CliError(`event ${event.eventId} was not processed in time; is a worker running on the task queue?`, 4);
      }
      outcomes.push(outcome);
      if (!opts.json) printOutcome(event, outcome);
    }
    if (opts.json) console.log(JSON.stringify(outcomes, null, 2));
    if (outcomes.some((o) => o.outcome === 'failed')) throw new CliError('one or more events failed; see above', 3);
    if (outcomes.some((o) => o.outcome === 'rejected')) throw new CliError('the mass-revocation guard held what an event would take away, and it was rejected; see above', 6);
    // Decided and recorded, not lost: the worker keeps retrying; exit non-zero so a script notices.
    if (outcomes.some((o) => o.outcome === 'pending')) throw new CliError('a revoke is still pending on some target; idflow keeps retrying it (idflow status, or IdflowRevocationPending = true)', 5);
    return outcomes;
  } finally {
    await close();
  }
}

/**
 * What the person's workflow is doing, when a worker is doing something: activities retrying (with
 * the last failure: a target answering 500 is not a missing worker) or running. Null when none is.
 */
async function activitiesUnderWay(handle: WorkflowHandle, client?: Client): Promise<string | null> {
  const described = await handle.describe().catch(() => null);
  if (!described) return null;
  const pending = [...(described.raw.pendingActivities ?? [])];
  // A group the person needs is created by its own workflow: what that one is retrying counts too.
  for (const child of described.raw.pendingChildren ?? []) {
    if (!client || !child.workflowId) continue;
    const d = await client.workflow.getHandle(child.workflowId, child.runId ?? undefined).describe().catch(() => null);
    pending.push(...(d?.raw.pendingActivities ?? []));
  }
  const retrying = pending.filter((a) => (a.attempt ?? 1) > 1 || a.lastFailure);
  if (retrying.length > 0) {
    return `the worker is retrying ${retrying.map((a) => `${a.activityType?.name ?? 'an activity'} (attempt ${a.attempt ?? '?'}${a.lastFailure?.message ? `, last failure: ${a.lastFailure.message.slice(0, 300)}` : ''})`).join('; ')}`;
  }
  const running = pending.filter((a) => a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED);
  return running.length > 0 ? `${running.map((a) => a.activityType?.name ?? 'an activity').join(', ')} still running` : null;
}

function printOutcome(event: HrEvent, outcome: EventOutcome): void {
  console.log(`${event.type} ${event.employeeId}: ${outcome.outcome}${outcome.error ? ` - ${outcome.error}` : ''}`);
  for (const t of outcome.targets) {
    console.log(`  ${t.target}: ${t.actions} changes, ${t.verified ? 'verified' : 'NOT verified'}${t.error ? ` - ${t.error}` : ''}`);
    for (const f of t.findings) console.log(`    ${f}`);
  }
}
