import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import type { RunningStack } from '../devstack/stack';
import { codecFromEnv, dataConverterFromEnv, decryptPayloadsDeep } from '../encryption';
import { scanFiles, scanTemporal, stackNeedles } from './resilience/support/secrets';
import { pendingTimers } from './support/timer-trace';

export default async function globalTeardown(): Promise<void> {
  const stack = (globalThis as { idflowTestStack?: RunningStack }).idflowTestStack;
  const stateDir = (globalThis as { idflowTestStateDir?: string }).idflowTestStateDir;
  try {
    // Scanned first: recorded histories are written decrypted into the repository.
    if (stack && stateDir) await scanForSecrets(stack, stateDir);
    if (stack && process.env.IDFLOW_RECORD_HISTORIES) await recordHistories(stack, process.env.IDFLOW_RECORD_HISTORIES);
  } finally {
    await stack?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
    await reportLeftovers();
  }
}

/**
 * The suite runs in band: anything a test file left open would keep this process alive (npm test
 * passes --forceExit, so CI does not wait for its deadline). Name what is still there a moment
 * after the end, so the leak can be found; IDFLOW_TEST_TRACE_TIMERS=1 adds where each timer was made.
 */
async function reportLeftovers(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000));
  const left = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
  if (left.length > 0) process.stderr.write(`still open after the suite: ${left.join(', ')}\n${pendingTimers().map((s) => `timer made at\n${s}`).join('\n')}\n`);
}

/**
 * After every test file has used the shared stack: no secret it holds may be in any history or log.
 * (The resilience suite scans its private stacks itself.) A finding fails the run, naming the secret
 * and the place, never the value.
 */
async function scanForSecrets(stack: RunningStack, stateDir: string): Promise<void> {
  const needles = stackNeedles('shared stack', stack.info);
  const histories = await scanTemporal('shared stack', stack.info, needles);
  const files = scanFiles([join(stateDir, 'logs')], needles);
  const findings = [...histories.findings, ...files.findings];
  process.stderr.write(`secrets scan of the shared stack: ${histories.histories} histories (${histories.events} events), ${files.files.length} log files: ${findings.length ? `${findings.length} findings` : 'clean'}\n`);
  if (findings.length > 0) throw new Error(`secrets in the shared test stack: ${findings.map((f) => `${f.label} in ${f.where}`).join('; ')}`);
}

/**
 * `IDFLOW_RECORD_HISTORIES=test/histories npm test` keeps one closed run of each kind the suite made,
 * for the replay test: a workflow change that breaks determinism then fails CI.
 */
async function recordHistories(stack: RunningStack, dir: string): Promise<void> {
  const connection = await Connection.connect({ address: stack.info.temporal.address });
  const client = new Client({ connection, namespace: stack.info.temporal.namespace, dataConverter: dataConverterFromEnv(stack.info.encryption.env) });
  const codec = codecFromEnv(stack.info.encryption.env);
  mkdirSync(dir, { recursive: true });
  const kept = new Set<string>();
  const index: Record<string, string> = {};
  try {
    // The revocation guard runs for as long as its window is open, so the suite ends it (terminates it) rather than waits.
    for await (const wf of client.workflow.list({ query: `ExecutionStatus = 'Completed' OR (WorkflowType = 'revocationGuardWorkflow' AND ExecutionStatus = 'Terminated')` })) {
      const handle = client.workflow.getHandle(wf.workflowId, wf.runId);
      const result = (await handle.result().catch(() => ({}))) as Record<string, unknown>;
      const history = await handle.fetchHistory();
      const key = kindOf(wf.type, result, history);
      if (!key || kept.has(key)) continue;
      kept.add(key);
      const file = join(dir, `${key}.json`);
      // Stored decrypted: the replay test then needs no key, and no key is ever committed.
      writeFileSync(file, historyToJSON(codec ? await decryptPayloadsDeep(history, codec) : history));
      index[`${key}.json`] = wf.workflowId;
      process.stderr.write(`recorded ${wf.workflowId} as ${file}\n`);
    }
    // Histories carry no workflow id; the replay needs the original one (child ids derive from it).
    writeFileSync(join(dir, 'workflow-ids.json'), `${JSON.stringify(index, null, 2)}\n`);
  } finally {
    await connection.close();
  }
}

function kindOf(type: string, result: Record<string, unknown>, history: temporal.api.history.v1.IHistory): string | null {
  if (type === 'identityWorkflow') {
    const events = ((result.recent as { type: string; outcome: string }[]) ?? []).map((r) => `${r.type}-${r.outcome}`);
    // Runs that had groups created (child workflows) are a kind of their own: a different command sequence.
    const groups = history.events?.some((e) => e.startChildWorkflowExecutionInitiatedEventAttributes) ? '--groups-created' : '';
    return events.length ? `identity--${[...new Set(events)].join('--')}${groups}` : null;
  }
  if (type === 'managedGroupWorkflow') return 'managed-group--created';
  if (type === 'reconcileWorkflow') {
    const decision = result.decision as { approved: boolean; by: string } | null;
    return `reconcile--${result.dryRun ? 'dry-run' : decision ? (decision.approved ? 'approved' : decision.by === 'timeout' ? 'timed-out' : 'rejected') : 'applied'}`;
  }
  if (type === 'deltaSyncWorkflow') return `delta-sync--${result.resyncRequired ? 'resync' : 'changes'}`;
  if (type === 'revocationGuardWorkflow') {
    const updates = (history.events ?? []).flatMap((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name ?? []);
    return `revocation-guard--${updates.includes('decideRevocations') ? 'decided' : updates.length ? 'asked' : 'idle'}`;
  }
  return null;
}
