import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { Command, Option } from 'commander';
import type { ReconcileTargetResult } from '../activities/reconcile';
import { employeeIdKey } from '../domain/employee-id';
import { codecFromEnv, dataConverterFromEnv, decodePayloadValues } from '../encryption';
import { temporalSettings } from '../workers/connection';
import { auditRecords, type AuditRecord, type DecodedEvent } from './audit-records';
import { CliError, cliRuntime, connectClient } from './client';

/**
 * `idflow audit`: one identity's access record built from workflow histories (the histories are the
 * evidence), an export for archiving beyond the server's retention, and a replay check of an export.
 */
export function auditCommand(): Command {
  const cmd = new Command('audit')
    .description("one identity's access record from workflow histories; export and verify archives")
    // `audit --since` and `audit export --since` are different options: each belongs where it is written.
    .enablePositionalOptions()
    .argument('[person]', "the employee id, or the userPrincipalName (looked up in Entra ID with the worker's config and credentials)")
    .option('--since <date>', 'only runs started since this date (ISO-8601)')
    .addOption(new Option('--format <format>', 'output format').choices(['md', 'json', 'csv']).default('md'))
    .action(async (person: string | undefined, opts: { since?: string; format: 'md' | 'json' | 'csv' }) => {
      if (!person) throw new CliError('name an employee id or a userPrincipalName, or use idflow audit export|verify', 2);
      const since = sinceDate(opts.since);
      const employeeId = person.includes('@') ? await employeeIdOfPrincipal(person) : person;
      await withClient(async (client) => {
        const records: AuditRecord[] = [];
        const query = `IdflowEmployeeId = '${employeeId.replace(/'/g, '')}'${since ? ` AND StartTime >= '${since.toISOString()}'` : ''}`;
        for await (const wf of client.workflow.list({ query })) {
          const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
          records.push(...auditRecords(await decodeHistory(history), { workflowId: wf.workflowId, runId: wf.runId, link: runLink(wf.workflowId, wf.runId) }));
        }
        records.push(...(await reconcileMentions(client, employeeId, since)));
        records.sort((a, b) => a.time.localeCompare(b.time));
        print(records, opts.format, employeeId);
      });
    });

  cmd
    .command('export')
    .description('write the histories (as stored, encrypted) and decoded records of every run since a date, for archiving')
    .requiredOption('--since <date>', 'runs started since this date (ISO-8601)')
    .requiredOption('--out <dir>', 'directory to write into')
    .action(async (opts: { since: string; out: string }) => {
      const since = sinceDate(opts.since)!;
      // Decoded records are personal data: readable by the exporting user only.
      mkdirSync(join(opts.out, 'histories'), { recursive: true, mode: 0o700 });
      mkdirSync(join(opts.out, 'records'), { recursive: true, mode: 0o700 });
      chmodSync(opts.out, 0o700);
      await withClient(async (client) => {
        const index: { workflowId: string; runId: string; type: string; file: string }[] = [];
        const byEmployee = new Map<string, AuditRecord[]>();
        for await (const wf of client.workflow.list({ query: `StartTime >= '${since.toISOString()}' AND ExecutionStatus != 'Running'` })) {
          const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
          const file = `${safe(wf.workflowId)}__${wf.runId}.json`;
          writePrivate(join(opts.out, 'histories', file), historyToJSON(history as temporal.api.history.v1.History));
          index.push({ workflowId: wf.workflowId, runId: wf.runId, type: wf.type, file });
          if (wf.type === 'identityWorkflow') {
            const employeeId = wf.workflowId.replace(/^identity-/, '');
            const recs = auditRecords(await decodeHistory(history), { workflowId: wf.workflowId, runId: wf.runId, link: runLink(wf.workflowId, wf.runId) });
            byEmployee.set(employeeId, [...(byEmployee.get(employeeId) ?? []), ...recs]);
          }
        }
        writePrivate(join(opts.out, 'index.json'), `${JSON.stringify({ exportedAt: new Date().toISOString(), since: since.toISOString(), runs: index }, null, 2)}\n`);
        for (const [employeeId, recs] of byEmployee) writePrivate(join(opts.out, 'records', `${safe(employeeId)}.json`), `${JSON.stringify(recs, null, 2)}\n`);
        console.log(`exported ${index.length} closed runs and ${byEmployee.size} identity records to ${opts.out}`);
        console.log('histories are stored as Temporal holds them (payloads encrypted); keep the encryption keys to read them');
      });
    });

  cmd
    .command('verify')
    .description('replay exported histories against the current workflow code and report any non-determinism')
    .argument('[dir]', 'an export directory', 'audit-export')
    .action(async (dir: string) => {
      const { runs } = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { runs: { workflowId: string; file: string }[] };
      const files = new Set(readdirSync(join(dir, 'histories')));
      Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
      const histories = runs.filter((r) => files.has(r.file)).map((r) => ({ workflowId: r.workflowId, history: historyFromJSON(JSON.parse(readFileSync(join(dir, 'histories', r.file), 'utf8'))) }));
      let failed = 0;
      for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../workflows'), dataConverter: dataConverterFromEnv() }, histories)) {
        if (result.error) {
          failed += 1;
          console.log(`NON-DETERMINISTIC ${result.workflowId}: ${result.error.message.split('\n')[0]}`);
        }
      }
      console.log(`${histories.length - failed} of ${histories.length} histories replay against the current code`);
      if (failed > 0) throw new CliError(`${failed} histories do not replay`, 3);
    });
  return cmd;
}

/** Histories are indexed by employee id (a search attribute); a UPN is translated by Entra ID. */
async function employeeIdOfPrincipal(upn: string): Promise<string> {
  const employeeId = await cliRuntime(`looking up ${upn} needs the worker's config`).source.employeeIdOf(upn);
  if (employeeId === null) {
    throw new CliError(`Entra ID has no user ${upn} with an employee id; a person already deleted from Entra ID can only be audited by employee id`, 2);
  }
  console.error(`${upn} is employee ${employeeId}`);
  return employeeId;
}

async function withClient(fn: (client: Client) => Promise<void>): Promise<void> {
  const { client, close } = await connectClient();
  try {
    await fn(client);
  } finally {
    await close();
  }
}

/** Every payload of the history decoded to a value, event by event. */
async function decodeHistory(history: temporal.api.history.v1.IHistory): Promise<DecodedEvent[]> {
  const codec = codecFromEnv();
  const values = async (payloads: { payloads?: Payload[] | null } | null | undefined) => (payloads?.payloads?.length ? decodePayloadValues(payloads.payloads, codec) : []);
  const out: DecodedEvent[] = [];
  for (const e of history.events ?? []) {
    const time = e.eventTime?.seconds ? new Date(Number(e.eventTime.seconds) * 1000 + Math.floor((e.eventTime.nanos ?? 0) / 1e6)).toISOString() : '';
    const id = Number(e.eventId);
    if (e.workflowExecutionSignaledEventAttributes) out.push({ id, time, kind: 'signal', name: e.workflowExecutionSignaledEventAttributes.signalName ?? '', values: await values(e.workflowExecutionSignaledEventAttributes.input) });
    else if (e.activityTaskScheduledEventAttributes) out.push({ id, time, kind: 'scheduled', name: e.activityTaskScheduledEventAttributes.activityType?.name ?? '', values: await values(e.activityTaskScheduledEventAttributes.input) });
    else if (e.activityTaskCompletedEventAttributes) out.push({ id, time, kind: 'completed', scheduledId: Number(e.activityTaskCompletedEventAttributes.scheduledEventId), values: await values(e.activityTaskCompletedEventAttributes.result) });
    else if (e.activityTaskFailedEventAttributes) out.push({ id, time, kind: 'failed', scheduledId: Number(e.activityTaskFailedEventAttributes.scheduledEventId), message: await failureMessage(e.activityTaskFailedEventAttributes.failure) });
    else if (e.workflowExecutionUpdateAcceptedEventAttributes) out.push({ id, time, kind: 'update', name: e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input?.name ?? '', values: await values(e.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest?.input?.args) });
  }
  return out;
}

/** Failure messages are encrypted too (they can name people); decode when the key is there. */
async function failureMessage(failure: temporal.api.failure.v1.IFailure | null | undefined): Promise<string> {
  let f = failure;
  while (f?.cause) f = f.cause;
  if (f?.encodedAttributes) {
    const [attrs] = await decodePayloadValues([f.encodedAttributes as Payload], codecFromEnv());
    return (attrs as { message?: string }).message ?? f.message ?? '';
  }
  return f?.message ?? '';
}

/** Reconcile runs record whom they wrote and how, and failures and skips in bounded samples; this finds the ones naming the person. */
async function reconcileMentions(client: Client, employeeId: string, since: Date | null): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  const query = `WorkflowType = 'reconcileWorkflow' AND ExecutionStatus = 'Completed'${since ? ` AND StartTime >= '${since.toISOString()}'` : ''}`;
  for await (const wf of client.workflow.list({ query })) {
    const result = (await client.workflow.getHandle(wf.workflowId, wf.runId).result()) as { results: Pick<ReconcileTargetResult, 'target' | 'failures' | 'skipped' | 'written'>[] };
    const time = (wf.closeTime ?? wf.startTime).toISOString();
    const key = employeeIdKey(employeeId);
    for (const r of result.results ?? []) {
      const wrote = r.written?.people.find((p) => employeeIdKey(p.employeeId) === key);
      if (wrote) out.push({ time, workflowId: wf.workflowId, runId: wf.runId, link: runLink(wf.workflowId, wf.runId), kind: 'write', target: r.target, detail: `reconcile wrote ${wrote.ops.join(', ')}` });
      else if (r.written?.omitted) out.push({ time, workflowId: wf.workflowId, runId: wf.runId, link: runLink(wf.workflowId, wf.runId), kind: 'write', target: r.target, detail: `reconcile wrote ${r.written.omitted} people beyond the ${r.written.people.length} it records by name; this person may be among them` });
      for (const f of r.failures.sample) if (f.employeeId === employeeId) out.push({ time, workflowId: wf.workflowId, runId: wf.runId, link: runLink(wf.workflowId, wf.runId), kind: 'failure', target: r.target, detail: `reconcile: ${f.error}` });
      if (r.skipped.sample.includes(employeeId)) out.push({ time, workflowId: wf.workflowId, runId: wf.runId, link: runLink(wf.workflowId, wf.runId), kind: 'decision', target: r.target, detail: 'reconcile skipped: own workflow running' });
    }
  }
  return out;
}

/**
 * The run in the Temporal UI: the UI named by IDFLOW_TEMPORAL_UI_URL (the local stack sets it to
 * its own port), Temporal Cloud's for a *.tmprl.cloud address, else none: a guessed port is a
 * link to the wrong place.
 */
function runLink(workflowId: string, runId: string): string {
  const s = temporalSettings();
  const ui = process.env.IDFLOW_TEMPORAL_UI_URL?.replace(/\/+$/, '') ?? (/\.tmprl\.cloud(:\d+)?$/.test(s.address) ? 'https://cloud.temporal.io' : null);
  return ui ? `${ui}/namespaces/${s.namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history` : '';
}

/** Created 0600, and made so if it was there before: an export holds personal data. */
function writePrivate(path: string, data: string): void {
  writeFileSync(path, data, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function sinceDate(value: string | undefined): Date | null {
  if (!value) return null;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new CliError(`--since must be an ISO-8601 date, not "${value}"`, 2);
  return d;
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]/g, '_');
}

function print(records: AuditRecord[], format: 'md' | 'json' | 'csv', employeeId: string): void {
  if (format === 'json') {
    console.log(JSON.stringify(records, null, 2));
    return;
  }
  const header = ['time', 'kind', 'target', 'detail', 'run'];
  const rows = records.map((r) => [r.time, r.kind, r.target ?? '', r.detail, r.link]);
  if (format === 'csv') {
    const cell = (v: string) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    console.log(header.join(','));
    for (const row of rows) console.log(row.map(cell).join(','));
    return;
  }
  console.log(`# Access record for ${employeeId}\n`);
  console.log(`| ${header.join(' | ')} |\n|${header.map(() => '---').join('|')}|`);
  for (const row of rows) console.log(`| ${row.slice(0, 4).map((c) => c.replace(/\|/g, '\\|')).join(' | ')} | [run](${row[4]}) |`);
}
