import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { IdflowActivities } from '../../activities';
import type { ReconcileTargetInput, ReconcileTargetResult } from '../../activities/reconcile';
import { approveUpdate, progressQuery, reconcileWorkflow } from '../../workflows/reconcile';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/** Who may approve a reconcile run's held disables, with mocked activities on a real dev server. */

const TEMPORAL = process.env.TEMPORAL_CLI_PATH ?? join(__dirname, '..', '..', '.tools', 'bin', 'temporal');
let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundle;

beforeAll(async () => {
  Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: TEMPORAL }, searchAttributes: SEARCH_ATTRIBUTES, extraArgs: ['--log-level', 'error'] },
  });
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') });
}, 120_000);

afterAll(async () => {
  await env?.teardown();
});

const seenInputs: ReconcileTargetInput[] = [];

/** One target with 12 disables held; an approved round applies them. `digest`: the held set's. */
function activities(fourEyes: boolean, digest?: string): Partial<IdflowActivities> {
  const counts = { create: 0, update: 0, rename: 0, enable: 0, disable: 12, delete: 0, addMember: 0, removeMember: 0, createGroup: 0 };
  return {
    enabledTargets: async () => ['aws'],
    identitiesInFlight: async () => [],
    approvalPolicy: async () => ({ fourEyes }),
    reconcileTarget: async (input: ReconcileTargetInput) => (seenInputs.push(input), {
      target: input.target, planned: counts, applied: { ...counts, disable: input.approvedDestructive ? 12 : 0 },
      guard: input.approvedDestructive ? { held: 0, triggered: false, reason: 'approved' } : { held: 12, triggered: true, reason: '12 disables/deletes exceed the threshold of 10 accounts', ...(digest ? { digest } : {}) },
      drift: { count: 0, sample: [] }, findings: { count: 0, sample: [] }, failures: { count: 0, retryable: 0, sample: [] }, skipped: { count: 0, sample: [] },
      planSample: [], verify: { checked: true, remaining: 0 }, reads: { sourcePages: 1, targetCalls: 1 }, durationMs: 1,
    }) as unknown as ReconcileTargetResult,
  };
}

let seq = 0;
async function heldRun(fourEyes: boolean, requestedBy?: string, digest?: string) {
  const taskQueue = `reconcile-approval-${++seq}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities: activities(fourEyes, digest) });
  const handle = await env.client.workflow.start(reconcileWorkflow, { taskQueue, workflowId: `reconcile-test-${seq}`, args: [{ approvalTimeout: '1 minute', ...(requestedBy ? { requestedBy } : {}) }] });
  return { worker, handle };
}

async function awaitingApproval(handle: Awaited<ReturnType<typeof heldRun>>['handle']): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await handle.query(progressQuery)).phase === 'awaiting approval') return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('never awaited approval');
}

test('four eyes: whoever started the run cannot approve it; someone else can', async () => {
  const { worker, handle } = await heldRun(true, 'alice@contoso.example');
  await worker.runUntil(async () => {
    await awaitingApproval(handle);
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'alice@contoso.example' }] })).rejects.toMatchObject({ cause: { message: expect.stringContaining('four eyes: alice@contoso.example started this run and cannot approve it') } });
    expect((await handle.query(progressQuery)).decision).toBeNull();
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob@contoso.example' }] });
    const result = await handle.result();
    expect(result.decision).toMatchObject({ approved: true, by: 'bob@contoso.example' });
    expect(result.results[0]!.applied.disable).toBe(12);
  });
});

test('with approvals.fourEyes off, the requester may approve their own run', async () => {
  const { worker, handle } = await heldRun(false, 'alice@contoso.example');
  await worker.runUntil(async () => {
    await awaitingApproval(handle);
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'alice@contoso.example' }] });
    expect((await handle.result()).decision).toMatchObject({ approved: true, by: 'alice@contoso.example' });
  });
});

test('an approval names the held set by its digest, and the approved round applies only that set', async () => {
  const { worker, handle } = await heldRun(true, undefined, 'd'.repeat(64));
  await worker.runUntil(async () => {
    await awaitingApproval(handle);
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'bob@contoso.example' }] })).rejects.toMatchObject({ cause: { message: expect.stringContaining('must name the held actions') } });
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'bob@contoso.example', digests: { aws: 'e'.repeat(64) } }] })).rejects.toThrow();
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'bob@contoso.example', digests: { aws: 'd'.repeat(64) } }] });
    await handle.result();
    expect(seenInputs.at(-1)).toMatchObject({ approvedDestructive: 12, approvedDigest: 'd'.repeat(64) });
  });
});
