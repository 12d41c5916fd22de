import type { Client } from '@temporalio/client';
import { decideRevocationsUpdate, type GuardState, guardStateQuery, REVOCATION_GUARD_WORKFLOW_ID } from '../../contracts/revocation-guard';
import { deltaSyncWorkflow } from '../../workflows/delta-sync';
import { reconcileWorkflow } from '../../workflows/reconcile';
import { eventually, idflowUsers, userTags } from '../support/iam';
import { entra, groupId } from '../support/lifecycle';
import { idflow, resetTargets, temporalClient } from '../support/stack';

/**
 * One mass-revocation guard on the delta path, on the real stack: a routine mistake in Entra ID
 * (Engineering removed from All Staff) takes everyone in Engineering out of scope at once. Without
 * the guard, the delta sync disabled all of them. With it, at most deletionGuard.maxCount (10) lose
 * access before a human decides on exactly the rest.
 */
let client: Client;
let close: () => Promise<void>;
let seq = 0;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
});
afterAll(async () => {
  await resetTargets();
  await close();
});

async function run(wf: typeof deltaSyncWorkflow | typeof reconcileWorkflow): Promise<{ signalled?: number }> {
  const id = `test-guard-${wf.name}-${Date.now()}-${seq++}`;
  const result = (await client.workflow.execute(wf as typeof deltaSyncWorkflow, { workflowId: id, taskQueue: 'idflow', args: [{}] })) as { signalled?: number };
  await eventually('the run to be visible', async () => {
    for await (const _ of client.workflow.list({ query: `WorkflowId = '${id}' AND ExecutionStatus = 'Completed'` })) return true;
    return false;
  }, (v) => v);
  return result;
}

async function iamStatusByEmployee(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const name of await idflowUsers()) {
    const tags = await userTags(name);
    if (tags['idflow:employee-id']) out.set(tags['idflow:employee-id'], tags['idflow:status'] ?? 'enabled');
  }
  return out;
}

// Not started yet: nothing counted, nothing held.
const guardState = () => client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID).query(guardStateQuery).catch(() => ({ window: [], held: [], decisions: [] }) as GuardState);

test('a bulk removal from scope in Entra ID: at most maxCount people lose access, the rest wait for an approval of exactly the held set', async () => {
  await resetTargets();
  await entra.reset();
  await run(reconcileWorkflow);
  await run(deltaSyncWorkflow);
  const engineers = (await entra.call<{ value: { employeeId: string | null }[] }>('GET', `/v1.0/groups/${await groupId('Engineering')}/transitiveMembers?$select=employeeId&$top=999`)).value.map((u) => u.employeeId!).filter(Boolean);
  expect(engineers.length).toBeGreaterThan(12);
  const before = await iamStatusByEmployee();
  for (const e of engineers) expect(before.get(e)).toBe('enabled');

  await entra.call('DELETE', `/_admin/groups/${await groupId('All Staff')}/members/${await groupId('Engineering')}`);
  const delta = await run(deltaSyncWorkflow);
  expect(delta.signalled).toBeGreaterThanOrEqual(engineers.length);

  // Ten people granted on each target, the others held: every engineer is accounted for.
  const state = await eventually('every engineer counted or held', guardState, (s) => new Set([...s.window.map((w) => w.employeeId), ...s.held.map((h) => h.employeeId)]).size >= engineers.length, 60_000);
  const granted = new Set(state.window.filter((w) => w.target === 'aws').map((w) => w.employeeId));
  expect(granted.size).toBe(10);
  expect(state.held.length).toBe(engineers.length - 10);
  expect(state.held[0]!.heldBecause).toMatch(/11 people losing access on (aws|app) within 1 hour exceed deletionGuard.maxCount 10/);
  const during = await eventually('the granted ten disabled', iamStatusByEmployee, (m) => engineers.filter((e) => m.get(e) === 'disabled').length === 10);
  for (const h of state.held) expect(during.get(h.employeeId)).toBe('enabled');

  // An HR leaver meanwhile waits too, and says so.
  const finance = (await entra.call<{ value: { employeeId: string }[] }>('GET', `/v1.0/users?$filter=${encodeURIComponent("department eq 'Finance'")}&$select=employeeId&$top=1`)).value[0]!.employeeId;
  const leaver = idflow(['event', 'leaver', '--employee-id', finance, '--wait', '--timeout', '5']);
  expect(leaver.status).toBe(6);
  expect(leaver.stderr).toContain('held by the mass-revocation guard');

  // Reviewing shows the held set and its digest; a digest that no longer matches is refused.
  const review = idflow(['approve', REVOCATION_GUARD_WORKFLOW_ID]);
  expect(review.status).toBe(2);
  const digest = /digest ([0-9a-f]{64})/.exec(review.stdout)![1]!;
  expect(review.stdout).toContain(`${engineers.length - 10 + 1} revocations held`);
  const stale = idflow(['approve', REVOCATION_GUARD_WORKFLOW_ID, '--digest', 'f'.repeat(64)]);
  expect(stale.status).toBe(2);
  expect(stale.stderr).toContain('the held set changed since it was reviewed');

  // Four eyes: whoever sent the held HR leaver (this CLI's principal) cannot approve the set.
  const own = idflow(['approve', REVOCATION_GUARD_WORKFLOW_ID, '--digest', digest]);
  expect(own.status).toBe(1);
  expect(own.stderr).toMatch(/four eyes: .+ sent 1 of the held events .* and cannot approve them/);
  const seen = await guardState();
  await client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID).executeUpdate(decideRevocationsUpdate, { args: [{ approved: true, by: 'second.approver@contoso.example', note: 'reorg ticket 4711', digest, requestIds: seen.held.map((h) => h.requestId) }] });
  const after = await eventually('every engineer and the leaver disabled', iamStatusByEmployee, (m) => [...engineers, finance].every((e) => m.get(e) === 'disabled'), 60_000);
  // Nobody else: only those already disabled in Entra ID before.
  const disabledBefore = [...before.values()].filter((s) => s === 'disabled').length;
  expect([...after.values()].filter((s) => s === 'disabled').length).toBe(disabledBefore + engineers.length + 1);
  const decided = await guardState();
  expect(decided.held).toEqual([]);
  expect(decided.decisions.at(-1)).toMatchObject({ approved: true, by: 'second.approver@contoso.example', digest, note: 'reorg ticket 4711' });
}, 240_000);
