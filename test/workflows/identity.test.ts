import { ApplicationFailure } from '@temporalio/common';
import { join } from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { WorkflowHandle } from '@temporalio/client';
import type { IdflowActivities } from '../../activities';
import type { RevokeInput, RevokeResult } from '../../activities/revoke';
import type { LifecyclePolicy } from '../../domain/config';
import type { IdentityEvent } from '../../domain/events';
import type { SourceIdentity } from '../../domain/types';
import { type EventOutcome, hrEventSignal, identityWorkflow, statusQuery } from '../../workflows/identity';
import { SEARCH_ATTRIBUTES } from '../../workflows/search-attributes';

/**
 * The identity workflow's promises about leavers, with mocked activities on a real Temporal dev
 * server (the CLI setup installs; nothing is downloaded). Each test fails without the behaviour it names.
 */

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

const POLICY: LifecyclePolicy = { leaverRetention: '1 hour', waitForSourceUser: '1 second', prepareJoinersDisabled: true, maxEffectiveIn: '30 days', revokeRetryInterval: '1 second', sourceLagWait: '2 seconds' };

/** Two targets whose accounts are a map from source id to enabled; `failing` makes a target refuse revokes. */
function fakeWorld(opts: { sourceIds?: string[]; sourceDown?: boolean } = {}) {
  const world = {
    accounts: new Map<string, Map<string, boolean>>([['iam', new Map()], ['scim', new Map()]]),
    failing: new Set<string>(),
    sourceDown: opts.sourceDown ?? false,
    sourceIds: opts.sourceIds ?? ['S1'],
    identity: null as SourceIdentity | null,
    liveById: new Set<string>(),
    revokeCalls: [] as RevokeInput[],
    provisionCalls: 0,
    handedOver: [] as IdentityEvent[],
  };
  for (const t of world.accounts.values()) for (const id of world.sourceIds) t.set(id, true);
  const activities: Partial<IdflowActivities> = {
    lifecyclePolicy: async () => POLICY,
    // The guard itself is tested in revocation-guard.test.ts; here it allows everything.
    requestRevocationPermit: async () => ({ granted: true as const }),
    withdrawRevocationRequest: async () => true,
    enabledTargets: async () => ['iam', 'scim'],
    leaverSourceIds: async () => (world.sourceDown ? { sourceIds: [], sourceError: 'connect ECONNREFUSED 127.0.0.1:8443' } : { sourceIds: world.sourceIds, employeeIds: ['E1'] }),
    handOverEvent: async (event: IdentityEvent) => {
      world.handedOver.push(event);
      return `identity-${event.employeeId}`;
    },
    fetchIdentity: async () => {
      if (world.sourceDown) throw new Error('connect ECONNREFUSED 127.0.0.1:8443');
      return world.identity;
    },
    fetchIdentityById: async (id: string) => (world.liveById.has(id) ? ({ id, employeeId: 'E1', attributes: {}, groups: [] } as unknown as SourceIdentity) : null),
    revokeAccounts: async (input: RevokeInput): Promise<RevokeResult> => {
      world.revokeCalls.push(input);
      if (world.failing.has(input.target)) throw new Error(`${input.target} is down`);
      const accounts = world.accounts.get(input.target)!;
      const revoked = input.sourceIds.filter((id) => accounts.get(id) === true);
      for (const id of revoked) accounts.set(id, false);
      return { target: input.target, accounts: revoked.map((id) => ({ userName: id, externalId: id, planned: [], applied: [{ op: 'disable', userName: id }] })), findings: [], residual: [] };
    },
    transformIdentity: async () => ({ configVersion: 'test', decisions: [] }),
    provisionAccount: async (input) => {
      world.provisionCalls += 1;
      return { target: input.target, plan: { actions: [], findings: [] }, applied: [] };
    },
    verifyAccount: async (input) => ({ target: input.target, verified: true, differences: [] }),
  };
  return { world, activities };
}

let seq = 0;
async function withWorker<T>(activities: Partial<IdflowActivities>, body: (start: (events: IdentityEvent[], employeeId?: string) => Promise<WorkflowHandle<typeof identityWorkflow>>) => Promise<T>): Promise<T> {
  const taskQueue = `identity-test-${++seq}`;
  const worker = await Worker.create({ connection: env.nativeConnection, taskQueue, workflowBundle, activities });
  return worker.runUntil(body(async (events, employeeId = 'E1') => {
    const handle = await env.client.workflow.start(identityWorkflow, { taskQueue, workflowId: `identity-${employeeId}-${seq}`, args: [{ employeeId, idleTimeout: '1 second' }] });
    for (const e of events) await handle.signal(hrEventSignal, e);
    return handle;
  }));
}

async function outcomeOf(handle: WorkflowHandle<typeof identityWorkflow>, eventId: string, timeoutMs = 20_000): Promise<EventOutcome> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await handle.query(statusQuery);
    const found = status.recent.find((r) => r.eventId === eventId);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no outcome for ${eventId}: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('a leaver is never lost', () => {
  test('one target failing keeps the leaver: the retention starts, the others are revoked, and the failing one is retried until it confirms', async () => {
    const { world, activities } = fakeWorld();
    world.failing.add('scim');
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'E1', eventId: 'L1' }]);
      const first = await outcomeOf(handle, 'L1');
      expect(first.outcome).toBe('pending');
      expect(first.targets.find((t) => t.target === 'iam')).toMatchObject({ verified: true, actions: 1 });
      expect(first.targets.find((t) => t.target === 'scim')?.error).toContain('scim is down');
      const status = await handle.query(statusQuery);
      expect(status.retentionUntil).toBeDefined();
      expect(status.revocationPending?.map((p) => p.target)).toEqual(['scim']);
      const described = await handle.describe();
      expect(described.searchAttributes.IdflowRevocationPending).toEqual([true]);

      // Several more attempts, each failing, then the target comes back.
      await waitFor(() => world.revokeCalls.filter((c) => c.target === 'scim').length >= 3);
      world.failing.delete('scim');
      const confirmed = await outcomeOf(handle, 'L1:confirmed');
      expect(confirmed.outcome).toBe('provisioned');
      expect(world.accounts.get('scim')!.get('S1')).toBe(false);
      expect((await handle.query(statusQuery)).revocationPending).toEqual([]);
      expect((await handle.describe()).searchAttributes.IdflowRevocationPending).toEqual([false]);
      // Still running: the retention holds the person's deletion and keeps a reconcile away.
      expect((await handle.describe()).status.name).toBe('RUNNING');
      await handle.terminate('test over');
    });
  });

  test('with Entra ID down the leaver revokes by the markers it has, and asks Entra ID again for any other account', async () => {
    const { world, activities } = fakeWorld({ sourceIds: ['S1', 'S2'] });
    world.identity = { id: 'S1', employeeId: 'E1', attributes: {}, groups: [] } as unknown as SourceIdentity;
    await withWorker(activities, async (start) => {
      // The workflow has seen the person as S1; then Entra ID goes down.
      const handle = await start([{ type: 'source-changed', employeeId: 'E1', eventId: 'seen', sourceId: 'S1' } as IdentityEvent]);
      await outcomeOf(handle, 'seen');
      world.sourceDown = true;
      await handle.signal(hrEventSignal, { type: 'leaver', employeeId: 'E1', eventId: 'L1' });
      const first = await outcomeOf(handle, 'L1');
      expect(first.outcome).toBe('pending');
      expect(first.error).toContain('Entra ID did not answer');
      expect(world.accounts.get('iam')!.get('S1')).toBe(false);
      // S2 has the same employee id; only Entra ID knows it. Once it answers, S2 is revoked too.
      expect(world.accounts.get('iam')!.get('S2')).toBe(true);
      world.sourceDown = false;
      const confirmed = await outcomeOf(handle, 'L1:confirmed');
      expect(confirmed.outcome).toBe('provisioned');
      for (const t of ['iam', 'scim']) expect([...world.accounts.get(t)!.values()]).toEqual([false, false]);
      await handle.terminate('test over');
    });
  });

  test('two Entra users with the same employee id are both revoked', async () => {
    const { world, activities } = fakeWorld({ sourceIds: ['S1', 'S2'] });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'E1', eventId: 'L1' }]);
      expect((await outcomeOf(handle, 'L1')).outcome).toBe('provisioned');
      for (const t of ['iam', 'scim']) expect(Object.fromEntries(world.accounts.get(t)!)).toEqual({ S1: false, S2: false });
      await handle.terminate('test over');
    });
  });

  test('a rehire cancels a revoke still pending: nothing disables the person after they are back', async () => {
    const { world, activities } = fakeWorld();
    world.failing.add('scim');
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'E1', eventId: 'L1' }]);
      expect((await outcomeOf(handle, 'L1')).outcome).toBe('pending');
      await handle.signal(hrEventSignal, { type: 'rehire', employeeId: 'E1', eventId: 'R1' });
      await outcomeOf(handle, 'R1');
      const calls = world.revokeCalls.length;
      world.failing.delete('scim');
      await new Promise((r) => setTimeout(r, 2_500));
      expect(world.revokeCalls.length).toBe(calls);
      expect(world.accounts.get('scim')!.get('S1')).toBe(true);
      const status = await handle.query(statusQuery);
      expect(status.revocationPending).toEqual([]);
      expect(status.retentionUntil).toBeUndefined();
    });
  });
});

describe('a leaver is never delayed', () => {
  test('a future-dated event waits on its own timer: an immediate leaver behind it is revoked at once', async () => {
    const { world, activities } = fakeWorld();
    await withWorker(activities, async (start) => {
      const inAnHour = new Date(Date.now() + 3_600_000).toISOString();
      const handle = await start([
        { type: 'mover', employeeId: 'E1', eventId: 'M1', effectiveAt: inAnHour },
        { type: 'leaver', employeeId: 'E1', eventId: 'L1' },
      ]);
      const leaver = await outcomeOf(handle, 'L1', 5_000);
      expect(leaver.outcome).toBe('provisioned');
      expect(world.accounts.get('iam')!.get('S1')).toBe(false);
      const status = await handle.query(statusQuery);
      expect(status.scheduled).toEqual([{ eventId: 'M1', type: 'mover', effectiveAt: inAnHour }]);
      await handle.terminate('test over');
    });
  });

  test('a joiner still waiting for Entra ID to have the person never holds up a leaver behind it', async () => {
    const { world, activities } = fakeWorld();
    activities.lifecyclePolicy = async () => ({ ...POLICY, waitForSourceUser: '1 hour' });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'joiner', employeeId: 'E1', eventId: 'J1' }]);
      await until(() => handle.query(statusQuery), (st) => (st.waiting ?? '').includes('to appear in Entra ID'));
      const sent = Date.now();
      await handle.signal(hrEventSignal, { type: 'leaver', employeeId: 'E1', eventId: 'L1' });
      const joiner = await outcomeOf(handle, 'J1');
      expect(joiner.outcome).toBe('ignored');
      expect(joiner.error).toContain('a leaver arrived while waiting');
      expect((await outcomeOf(handle, 'L1')).outcome).toBe('provisioned');
      expect(Date.now() - sent).toBeLessThan(4_000);
      expect(world.accounts.get('iam')!.get('S1')).toBe(false);
      await handle.terminate('test over');
    });
  });

  test('an effectiveAt beyond the configured horizon is refused with a clear outcome, not waited for', async () => {
    const { activities } = fakeWorld();
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'joiner', employeeId: 'E1', eventId: 'J1', effectiveAt: '9999-12-31T00:00:00Z' }]);
      const outcome = await outcomeOf(handle, 'J1');
      expect(outcome.outcome).toBe('failed');
      expect(outcome.error).toContain('lifecycle.maxEffectiveIn (30 days)');
      expect((await handle.query(statusQuery)).scheduled).toEqual([]);
      await handle.terminate('test over');
    });
  });
});

describe('one empty answer is not a leaver', () => {
  test('a changed person Entra ID does not list by employee id but still has by object id is left alone', async () => {
    const { world, activities } = fakeWorld();
    world.liveById.add('S1');
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'source-changed', employeeId: 'E1', eventId: 'C1', sourceId: 'S1' } as IdentityEvent]);
      const outcome = await outcomeOf(handle, 'C1');
      expect(outcome.outcome).toBe('ignored');
      expect(world.revokeCalls).toEqual([]);
      expect(world.accounts.get('iam')!.get('S1')).toBe(true);
      await handle.terminate('test over');
    });
  });

  test('a person the source has just reported but does not list yet (replication lag) is asked for again, visibly, and applied once listed, never revoked', async () => {
    const { world, activities } = fakeWorld();
    activities.lifecyclePolicy = async () => ({ ...POLICY, sourceLagWait: '1 minute' });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'source-changed', employeeId: 'E1', eventId: 'C1', sourceId: 'S1' } as IdentityEvent]);
      const waiting = await until(() => handle.query(statusQuery), (st) => st.waiting?.includes('replication lag') ?? false);
      expect(waiting.waiting).toContain('Entra ID reported E1 changed but does not list them yet');
      world.identity = { id: 'S1', employeeId: 'E1', login: 'e1@contoso.example', enabled: true, attributes: {}, groups: [] };
      world.liveById.add('S1');
      const outcome = await outcomeOf(handle, 'C1');
      expect(outcome).toMatchObject({ type: 'source-changed', outcome: 'verified' });
      expect(world.revokeCalls).toEqual([]);
      expect((await handle.query(statusQuery)).waiting ?? null).toBeNull();
      expect((await handle.query(statusQuery)).retentionUntil).toBeUndefined();
      await handle.terminate('test over');
    });
  });

  test('a changed person gone by object id too is revoked, with a retention', async () => {
    const { world, activities } = fakeWorld();
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'source-changed', employeeId: 'E1', eventId: 'C1', sourceId: 'S1' } as IdentityEvent]);
      expect((await outcomeOf(handle, 'C1')).outcome).toBe('provisioned');
      expect(world.accounts.get('iam')!.get('S1')).toBe(false);
      expect((await handle.query(statusQuery)).retentionUntil).toBeDefined();
      await handle.terminate('test over');
    });
  });
});

describe('failures say what failed', () => {
  test("a managed group the target refuses to create: the outcome names the target's own error, not the wrapper's \"Activity task failed\"", async () => {
    const { activities } = fakeWorld();
    const identity = { id: 'S1', employeeId: 'E1', login: 'e1@contoso.example', enabled: true, attributes: {}, groups: [] };
    activities.fetchIdentity = async () => identity;
    activities.transformIdentity = async () => ({ configVersion: 'test', decisions: [{ target: 'scim', userName: 'e1', sourceId: 'S1', desired: null }] as never });
    activities.provisionAccount = async (input) => ({ target: input.target, plan: { actions: [], findings: [] }, applied: [], groupsToCreate: [{ group: 'app-engineering', workflowId: `managed-group-test-${seq}-${Date.now()}` }] });
    activities.ensureGroup = async () => {
      throw ApplicationFailure.nonRetryable('SCIM POST /Groups app-engineering: 400 invalidValue: displayName is longer than 64 characters', 'SCIM.400');
    };
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'joiner', employeeId: 'E1', eventId: 'J1' } as IdentityEvent]);
      const outcome = await outcomeOf(handle, 'J1');
      expect(outcome.outcome).toBe('failed');
      expect(outcome.targets[0]!.error).toContain('displayName is longer than 64 characters');
      await handle.terminate('test over');
    });
  });
});

describe('a failure after writes', () => {
  test('an outcome counts the writes a failed provisioning made before it failed, instead of "0 changes"', async () => {
    const { activities } = fakeWorld();
    activities.fetchIdentity = async () => ({ id: 'S1', employeeId: 'E1', login: 'e1@contoso.example', enabled: true, attributes: {}, groups: [] });
    activities.transformIdentity = async () => ({ configVersion: 'test', decisions: [{ target: 'scim', userName: 'e1', sourceId: 'S1', desired: null }] as never });
    activities.provisionAccount = async () => {
      throw ApplicationFailure.create({ type: 'SCIM.400', nonRetryable: true, message: 'SCIM PATCH /Groups/g1: 400 (after 2 writes: create e1, addMember e1 eng)', details: [{ writesBeforeFailure: [{ op: 'create', userName: 'e1' }, { op: 'addMember', userName: 'e1', group: 'eng' }] }] });
    };
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'joiner', employeeId: 'E1', eventId: 'J1' } as IdentityEvent]);
      const outcome = await outcomeOf(handle, 'J1');
      expect(outcome.outcome).toBe('failed');
      expect(outcome.targets[0]).toMatchObject({ target: 'scim', actions: 2, verified: false, error: expect.stringContaining('after 2 writes') });
      await handle.terminate('test over');
    });
  });
});

describe('a leaver is remembered', () => {
  test('after the purge, a person Entra ID still lists is not re-created until Entra ID agrees or HR rehires', async () => {
    const { world, activities } = fakeWorld();
    world.identity = { id: 'S1', employeeId: 'E1', login: 'e1@contoso.example', enabled: true, attributes: {}, groups: [] };
    activities.lifecyclePolicy = async () => ({ ...POLICY, leaverRetention: '1 second', leaverSourceCheck: '1 second' });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'E1', eventId: 'L1' }]);
      await outcomeOf(handle, 'L1');
      const status = await until(() => handle.query(statusQuery), (st) => st.leftSince !== undefined);
      expect(status.waiting).toContain('Entra ID still lists E1, whom HR said left');
      expect((await handle.describe()).searchAttributes.IdflowLeftButInSource).toEqual([true]);
      // Entra ID's change reaches the workflow: nothing is provisioned.
      const calls = world.provisionCalls;
      await handle.signal(hrEventSignal, { type: 'source-changed', employeeId: 'E1', eventId: 'C1', sourceId: 'S1' } as IdentityEvent);
      const changed = await outcomeOf(handle, 'C1');
      expect(changed.outcome).toBe('ignored');
      expect(changed.error).toContain('does not re-create them');
      expect(world.provisionCalls).toBe(calls);
      // Entra ID agrees (the user is disabled): the workflow lets go, and ends.
      world.identity = { ...world.identity!, enabled: false };
      await handle.result();
      expect((await handle.describe()).searchAttributes.IdflowLeftButInSource).toEqual([false]);
    });
  });

  test("reasons name the policy's source; a person in the shape older histories hold (accountEnabled) still counts as enabled", async () => {
    const { world, activities } = fakeWorld();
    world.identity = { id: 'S1', employeeId: 'E1', userPrincipalName: 'e1@contoso.example', accountEnabled: true, attributes: {}, groups: [] } as unknown as SourceIdentity;
    activities.lifecyclePolicy = async () => ({ ...POLICY, leaverRetention: '1 second', leaverSourceCheck: '1 second', sourceLabel: 'Active Directory' });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'E1', eventId: 'L1' }]);
      await outcomeOf(handle, 'L1');
      const status = await until(() => handle.query(statusQuery), (st) => st.leftSince !== undefined);
      expect(status.waiting).toContain('Active Directory still lists E1, whom HR said left');
      expect(status.waiting).not.toContain('Entra ID');
      world.identity = { ...world.identity!, accountEnabled: false } as unknown as SourceIdentity;
      await handle.result();
    });
  });

  test('a rehire ends the remembering and provisions again', async () => {
    const { world, activities } = fakeWorld();
    world.identity = { id: 'S1', employeeId: 'E1', login: 'e1@contoso.example', enabled: true, attributes: {}, groups: [] };
    activities.lifecyclePolicy = async () => ({ ...POLICY, leaverRetention: '1 second', leaverSourceCheck: '1 hour' });
    activities.transformIdentity = async () => ({ configVersion: 'test', decisions: [{ target: 'iam', userName: 'e1', sourceId: 'S1', desired: null }] });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'E1', eventId: 'L1' }]);
      await until(() => handle.query(statusQuery), (st) => st.leftSince !== undefined);
      await handle.signal(hrEventSignal, { type: 'rehire', employeeId: 'E1', eventId: 'R1' });
      expect((await outcomeOf(handle, 'R1')).outcome).not.toBe('ignored');
      expect(world.provisionCalls).toBeGreaterThan(0);
      expect((await handle.query(statusQuery)).leftSince).toBeUndefined();
      await handle.terminate('test over');
    });
  });
});

describe('employee ids are canonical', () => {
  test('an id that matches Entra ID only by case is refused, and nothing is revoked', async () => {
    const { world, activities } = fakeWorld();
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'e1', eventId: 'L1' }], 'e1');
      const outcome = await outcomeOf(handle, 'L1');
      expect(outcome.outcome).toBe('failed');
      expect(outcome.error).toContain('employee id e1 matches E1 in Entra ID only by case');
      expect(world.revokeCalls).toEqual([]);
      expect((await handle.query(statusQuery)).retentionUntil).toBeUndefined();
      await handle.terminate('test over');
    });
  });

  test('with case-insensitive ids the event goes to the workflow of Entra ID\'s spelling', async () => {
    const { world, activities } = fakeWorld();
    activities.lifecyclePolicy = async () => ({ ...POLICY, employeeIds: 'case-insensitive' as const });
    await withWorker(activities, async (start) => {
      const handle = await start([{ type: 'leaver', employeeId: 'e1', eventId: 'L1', note: 'HR ticket 7' }], 'e1');
      const outcome = await outcomeOf(handle, 'L1');
      expect(outcome.outcome).toBe('ignored');
      expect(outcome.error).toContain('handed to identity-E1');
      expect(world.handedOver).toEqual([{ type: 'leaver', employeeId: 'E1', eventId: 'L1', note: 'HR ticket 7' }]);
      expect(world.revokeCalls).toEqual([]);
      await handle.terminate('test over');
    });
  });
});

async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out; last: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function waitFor(check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 100));
  }
}
