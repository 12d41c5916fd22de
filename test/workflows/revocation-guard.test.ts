import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime as SdkRuntime, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import type { IdflowActivities } from '../../activities';
import { revocationGuardActivities } from '../../activities/revocation-guard';
import type { RevokeInput, RevokeResult } from '../../activities/revoke';
import type { Runtime } from '../../activities/runtime';
import type { LifecyclePolicy } from '../../domain/config';
import type { IdentityEvent } from '../../domain/events';
import type { SourceIdentity } from '../../domain/types';
import { type EventOutcome, hrEventSignal, identityWorkflow, statusQuery } from '../../workflows/identity';
import { decideRevocationsUpdate, guardStateQuery, REVOCATION_GUARD_WORKFLOW_ID } from '../../workflows/revocation-guard';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/**
 * The mass-revocation guard across identity workflows, on a real Temporal dev server: the guard
 * workflow and its activities are real; the targets are fakes. Each test fails without the guard.
 */

const TEMPORAL = process.env.TEMPORAL_CLI_PATH ?? join(__dirname, '..', '..', '.tools', 'bin', 'temporal');
let env: TestWorkflowEnvironment;
let workflowBundle: WorkflowBundle;

beforeAll(async () => {
  SdkRuntime.install({ logger: new DefaultLogger((process.env.GUARD_TEST_LOG as 'WARN') ?? 'ERROR'), telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } } });
  env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: TEMPORAL }, searchAttributes: SEARCH_ATTRIBUTES, extraArgs: ['--log-level', 'error'] },
  });
  workflowBundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') });
}, 120_000);


afterEach(async () => {
  await env.client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID).terminate('test over').catch(() => undefined);
});

const POLICY: LifecyclePolicy = { leaverRetention: '1 hour', waitForSourceUser: '1 second', prepareJoinersDisabled: true, maxEffectiveIn: '30 days', revokeRetryInterval: '1 second', sourceLagWait: '2 seconds' };

/** Two targets; each person E<n> has the account S-E<n> on both. `withheld` people's events would remove a membership. */
function fakeWorld(maxCount: number, people: string[], fourEyes = false) {
  const world = {
    accounts: new Map<string, Map<string, boolean>>([['iam', new Map()], ['scim', new Map()]]),
    memberships: new Map<string, boolean>(),
    revokeCalls: [] as RevokeInput[],
  };
  for (const t of world.accounts.values()) for (const p of people) t.set(`S-${p}`, true);
  for (const p of people) world.memberships.set(p, true);
  const guardConfig = { deletionGuard: { maxCount, window: '1 hour' } };
  const runtime = { loaded: { config: { targets: { iam: guardConfig, scim: guardConfig }, approvals: { fourEyes } } } } as unknown as Runtime;
  const removal = (employeeId: string) => ({ op: 'removeMember' as const, target: 'iam', employeeId, userName: employeeId, externalId: `S-${employeeId}`, group: 'admins', reason: 'no longer in Admins' });
  const activities: Partial<IdflowActivities> = {
    ...revocationGuardActivities(runtime),
    lifecyclePolicy: async () => POLICY,
    enabledTargets: async () => ['iam', 'scim'],
    leaverSourceIds: async (employeeId: string) => ({ sourceIds: [`S-${employeeId}`] }),
    fetchIdentity: async (employeeId: string) => ({ id: `S-${employeeId}`, employeeId, attributes: {}, groups: [] }) as unknown as SourceIdentity,
    revokeAccounts: async (input: RevokeInput): Promise<RevokeResult> => {
      world.revokeCalls.push(input);
      const accounts = world.accounts.get(input.target)!;
      const revoked = input.sourceIds.filter((id) => accounts.get(id) === true);
      for (const id of revoked) accounts.set(id, false);
      return { target: input.target, accounts: revoked.map((id) => ({ userName: id, externalId: id, planned: [], applied: [{ op: 'disable', userName: id }] })), findings: [], residual: [] };
    },
    transformIdentity: async ({ employeeId }) => ({ configVersion: 'test', decisions: [{ target: 'iam', userName: employeeId, sourceId: `S-${employeeId}`, desired: null }] }),
    // A mover who leaves Admins: the removal is what the guard sees.
    provisionAccount: async (input) => {
      const planned = world.memberships.get(input.employeeId) ? [removal(input.employeeId)] : [];
      if (input.withholdRevocations && planned.length) return { target: input.target, plan: { actions: planned, findings: [] }, applied: [], withheld: planned };
      world.memberships.set(input.employeeId, false);
      return { target: input.target, plan: { actions: planned, findings: [] }, applied: planned.map((a) => ({ op: a.op, userName: a.userName, group: a.group })) };
    },
    verifyAccount: async (input) => ({ target: input.target, verified: !world.memberships.get(input.employeeId), differences: [] }),
  };
  return { world, activities };
}

/**
 * One worker for the file, whose activities are the current test's: the guard is one workflow per
 * namespace, and a query to it from a second worker's run in one process was refused as "no poller".
 */
const TASK_QUEUE = 'guard-test';
let current: Partial<IdflowActivities> = {};
const delegating = Object.fromEntries(Object.keys(fakeWorld(0, []).activities).map((name) => [name, (...args: unknown[]) => (current[name as keyof IdflowActivities] as (...a: unknown[]) => unknown)(...args)]));
let worker: Worker;
let running: Promise<void>;
beforeAll(async () => {
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowBundle, activities: delegating as IdflowActivities });
  running = worker.run();
}, 60_000);
afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

let seq = 0;
async function withWorker<T>(activities: Partial<IdflowActivities>, body: (send: (event: IdentityEvent) => Promise<WorkflowHandle<typeof identityWorkflow>>) => Promise<T>): Promise<T> {
  current = activities;
  seq += 1;
  const handles = new Map<string, WorkflowHandle<typeof identityWorkflow>>();
  try {
    return await body(async (event) => {
      let handle = handles.get(event.employeeId);
      if (!handle) {
        handle = await env.client.workflow.start(identityWorkflow, { taskQueue: TASK_QUEUE, workflowId: `identity-${event.employeeId}-${seq}`, args: [{ employeeId: event.employeeId, idleTimeout: '1 minute' }] });
        handles.set(event.employeeId, handle);
      }
      await handle.signal(hrEventSignal, event);
      return handle;
    });
  } finally {
    for (const h of handles.values()) await h.terminate('test over').catch(() => undefined);
  }
}

async function outcomeOf(handle: WorkflowHandle<typeof identityWorkflow>, eventId: string, timeoutMs = 20_000): Promise<EventOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await handle.query(statusQuery)).recent.find((r) => r.eventId === eventId);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no outcome for ${eventId}: ${JSON.stringify(await handle.query(statusQuery))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const v = await read().catch((err: Error) => {
      last = `${err.message} ${(err as { cause?: Error }).cause?.message ?? ""}`;
      return undefined as T;
    });
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(v) ?? last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const guard = () => env.client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID);
const heldState = (n: number) => until(() => guard().query(guardStateQuery), (s) => s.held.length === n);

describe('one mass-revocation guard across identity workflows', () => {
  test('past the threshold, leavers are held until a human approves exactly the held set; a stale decision is refused', async () => {
    const people = ['E1', 'E2', 'E3', 'E4'];
    const { world, activities } = fakeWorld(2, people);
    await withWorker(activities, async (send) => {
      const h1 = await send({ type: 'leaver', employeeId: 'E1', eventId: 'L1' });
      const h2 = await send({ type: 'leaver', employeeId: 'E2', eventId: 'L2' });
      expect((await outcomeOf(h1, 'L1')).outcome).toBe('provisioned');
      expect((await outcomeOf(h2, 'L2')).outcome).toBe('provisioned');
      const h3 = await send({ type: 'leaver', employeeId: 'E3', eventId: 'L3' });
      const first = await heldState(1);
      expect(first.held[0]).toMatchObject({ employeeId: 'E3', targets: ['iam', 'scim'] });
      expect(first.held[0]!.heldBecause).toContain('3 people losing access on iam within 1 hour exceed deletionGuard.maxCount 2');
      // A decision on what the approver saw is refused once the held set has grown.
      const h4 = await send({ type: 'leaver', employeeId: 'E4', eventId: 'L4' });
      const both = await heldState(2);
      expect(both.held[1]).toMatchObject({ employeeId: 'E4' });
      await expect(guard().executeUpdate(decideRevocationsUpdate, { args: [{ approved: true, by: 'alice', digest: 'd1', requestIds: first.held.map((h) => h.requestId) }] })).rejects.toMatchObject({ cause: { message: expect.stringContaining('stale decision: 2 revocations are held now') } });
      expect(world.accounts.get('iam')!.get('S-E3')).toBe(true);
      const status = await h3.query(statusQuery);
      expect(status.waiting).toContain('held by the mass-revocation guard');
      expect((await h3.describe()).searchAttributes.IdflowAwaitingApproval).toEqual([true]);
      expect(status.retentionUntil).toBeUndefined();

      await guard().executeUpdate(decideRevocationsUpdate, { args: [{ approved: true, by: 'alice', digest: 'd2', requestIds: both.held.map((h) => h.requestId) }] });
      expect((await outcomeOf(h3, 'L3')).outcome).toBe('provisioned');
      expect((await outcomeOf(h4, 'L4')).outcome).toBe('provisioned');
      for (const t of ['iam', 'scim']) expect([...world.accounts.get(t)!.values()]).toEqual([false, false, false, false]);
      expect((await h3.query(statusQuery)).retentionUntil).toBeDefined();
      const decided = await guard().query(guardStateQuery);
      expect(decided.held).toEqual([]);
      expect(decided.decisions[0]).toMatchObject({ approved: true, by: 'alice', digest: 'd2' });
    });
  });

  test('a rejected hold revokes nothing and starts no retention', async () => {
    const { world, activities } = fakeWorld(0, ['E1']);
    await withWorker(activities, async (send) => {
      const h1 = await send({ type: 'leaver', employeeId: 'E1', eventId: 'L1' });
      const state = await heldState(1);
      await guard().executeUpdate(decideRevocationsUpdate, { args: [{ approved: false, by: 'bob', note: 'HR sent the wrong file', digest: 'd', requestIds: state.held.map((h) => h.requestId) }] });
      const outcome = await outcomeOf(h1, 'L1');
      expect(outcome.outcome).toBe('rejected');
      expect(outcome.error).toContain('rejected by bob (HR sent the wrong file)');
      expect(world.revokeCalls).toEqual([]);
      expect(world.accounts.get('iam')!.get('S-E1')).toBe(true);
      expect((await h1.query(statusQuery)).retentionUntil).toBeUndefined();
    });
  });

  test('a membership removal counts and is held; a leaver arriving behind it takes over and is decided on instead', async () => {
    const { world, activities } = fakeWorld(0, ['E1']);
    await withWorker(activities, async (send) => {
      const h1 = await send({ type: 'mover', employeeId: 'E1', eventId: 'M1' });
      const held = await heldState(1);
      expect(held.held[0]).toMatchObject({ eventId: 'M1', reason: 'iam: removeMember E1 from admins' });
      expect(world.memberships.get('E1')).toBe(true);
      await send({ type: 'leaver', employeeId: 'E1', eventId: 'L1' });
      const mover = await outcomeOf(h1, 'M1');
      expect(mover.outcome).toBe('ignored');
      expect(mover.error).toContain('a leaver arrived');
      const leaverHeld = await until(() => guard().query(guardStateQuery), (s) => s.held.length === 1 && s.held[0]?.eventId === 'L1');
      await guard().executeUpdate(decideRevocationsUpdate, { args: [{ approved: true, by: 'alice', digest: 'd', requestIds: leaverHeld.held.map((h) => h.requestId) }] });
      expect((await outcomeOf(h1, 'L1')).outcome).toBe('provisioned');
      expect(world.accounts.get('iam')!.get('S-E1')).toBe(false);
    });
  });

  test('four eyes: whoever sent a held event cannot approve the set; someone else can', async () => {
    const { world, activities } = fakeWorld(0, ['E1'], true);
    await withWorker(activities, async (send) => {
      const h1 = await send({ type: 'leaver', employeeId: 'E1', eventId: 'L1', requestedBy: 'alice@contoso.example' });
      const state = await heldState(1);
      expect(state.held[0]).toMatchObject({ requestedBy: 'alice@contoso.example', fourEyes: true });
      const requestIds = state.held.map((h) => h.requestId);
      await expect(guard().executeUpdate(decideRevocationsUpdate, { args: [{ approved: true, by: 'alice@contoso.example', digest: 'd', requestIds }] })).rejects.toMatchObject({ cause: { message: expect.stringContaining('four eyes: alice@contoso.example sent 1 of the held events (L1)') } });
      expect(world.revokeCalls).toEqual([]);
      await guard().executeUpdate(decideRevocationsUpdate, { args: [{ approved: true, by: 'bob@contoso.example', digest: 'd', requestIds }] });
      expect((await outcomeOf(h1, 'L1')).outcome).toBe('provisioned');
    });
  });
});
