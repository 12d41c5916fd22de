import type { Client } from '@temporalio/client';
import { deltaSyncWorkflow } from '../../workflows/delta-sync';
import { reconcileWorkflow } from '../../workflows/reconcile';
import { EntraAdmin } from '../support/entra-admin';
import { eventually, idflowUsers, userGroups, userTags } from '../support/iam';
import { newUser } from '../support/lifecycle';
import { BUSY_IDENTITIES, resetTargets, temporalClient } from '../support/stack';

/** Entra ID changes reach the targets through the delta sync and each person's identity workflow. */
const entra = new EntraAdmin();
let client: Client;
let close: () => Promise<void>;
let seq = 0;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
});
afterAll(async () => close());

async function run<T>(wf: typeof deltaSyncWorkflow | typeof reconcileWorkflow, args: unknown[] = [{}]): Promise<T> {
  const id = `test-${wf.name}-${Date.now()}-${seq++}`;
  const result = (await client.workflow.execute(wf as typeof deltaSyncWorkflow, { workflowId: id, taskQueue: 'idflow', args: args as [never] })) as T;
  // The next delta run finds its cursor through visibility: wait until this run is listed as completed.
  await eventually('the run to be visible', async () => {
    for await (const w of client.workflow.list({ query: `WorkflowId = '${id}' AND ExecutionStatus = 'Completed'` })) return true;
    return false;
  }, (v) => v);
  return result;
}

async function identitiesSettled(): Promise<void> {
  await eventually('identity workflows to finish', async () => {
    let n = 0;
    for await (const _ of client.workflow.list({ query: BUSY_IDENTITIES })) n += 1;
    return n;
  }, (n) => n === 0, 60_000);
}

async function tagsOf(employeeId: string): Promise<Record<string, string>> {
  for (const name of await idflowUsers()) {
    const tags = await userTags(name);
    if (tags['idflow:employee-id'] === employeeId) return { ...tags, name };
  }
  throw new Error(`no IAM account for ${employeeId}`);
}

beforeEach(async () => {
  await identitiesSettled();
  await resetTargets();
  await entra.reset();
});

test('changes, removals and membership changes in Entra ID reach IAM; the cursor carries over between runs', async () => {
  await run(reconcileWorkflow);
  type Result = { changed: number; removed: number; signalled: number; resyncRequired: boolean; links: unknown };
  // Runs from before may have left a cursor; this run moves it to "now" either way.
  await run<Result>(deltaSyncWorkflow);

  await entra.setUser('E1003', { jobTitle: 'Sales Director' });
  await entra.call('DELETE', `/_admin/users/${await entra.userId('E1006')}`);
  const admins = await entra.call<{ value: { id: string }[] }>('GET', `/v1.0/groups?$filter=${encodeURIComponent("displayName eq 'Cloud Admins'")}&$select=id`);
  await entra.call('POST', `/_admin/groups/${admins.value[0]!.id}/members`, { id: await entra.userId('E1007') });

  const result = await run<Result>(deltaSyncWorkflow);
  expect(result).toMatchObject({ changed: 2, removed: 1, signalled: 3, resyncRequired: false });
  // Deleted in Entra ID is a leaver: disabled now, deleted when the retention (8 s here) ends.
  const removed = await eventually('E1006 disabled', () => tagsOf('E1006'), (t) => t['idflow:status'] === 'disabled');
  expect(await userGroups(removed.name!)).toEqual([]);
  await identitiesSettled();
  await expect(tagsOf('E1006')).rejects.toThrow('no IAM account for E1006');

  expect((await userTags('jose.alvarez')).JobTitle).toBe('Sales Director');
  expect(await userGroups((await tagsOf('E1007')).name!)).toContain('idflow-admins');

  // Nothing changed since: the next run signals nobody.
  expect(await run<Result>(deltaSyncWorkflow)).toMatchObject({ changed: 0, removed: 0, signalled: 0 });
});

test("a new hire the delta reports before Graph's other reads have them (replication lag) is provisioned, not taken for a leaver", async () => {
  await run(deltaSyncWorkflow); // the cursor to now
  await entra.call('POST', '/_admin/replication', { delayMs: 4000 });
  await newUser('E7301', 'lag.newhire', 'Lag Newhire');
  const result = await run<{ changed: number; signalled: number }>(deltaSyncWorkflow);
  expect(result.signalled).toBeGreaterThanOrEqual(1);
  const tags = await eventually('E7301 provisioned', () => tagsOf('E7301').catch(() => null), (t) => t !== null, 60_000);
  expect(tags).toMatchObject({ name: 'lag.newhire', 'idflow:status': 'enabled' });
  expect(await userGroups('lag.newhire')).toContain('idflow-engineering');
});

test('a deletion in a replayed, shuffled delta round (an older entry after the removal) still revokes: the workflow asks Entra ID and finds the person gone', async () => {
  await run(reconcileWorkflow);
  await run(deltaSyncWorkflow); // the cursor to now
  await entra.call('POST', '/_admin/delta/quirks', { replay: true, shuffle: true, emptyPages: true });
  await entra.call('DELETE', `/_admin/users/${await entra.userId('E1005')}`);
  await run(deltaSyncWorkflow);
  const gone = await eventually('E1005 disabled', () => tagsOf('E1005'), (t) => t['idflow:status'] === 'disabled', 60_000);
  expect(await userGroups(gone.name!)).toEqual([]);
});

test.each([
  ['a reset (410 Gone)', '/_admin/delta/expire', undefined],
  ['a token past its 7 days (400 syncStateNotFound)', '/_admin/delta/age', { seconds: 8 * 86400 }],
])('a delta token Graph no longer honours, %s, starts a full reconcile and a fresh cursor', async (_what, path, body) => {
  await run(deltaSyncWorkflow);
  await entra.call('POST', path, body);
  const result = await run<{ resyncRequired: boolean; reconcileWorkflowId?: string }>(deltaSyncWorkflow);
  expect(result.resyncRequired).toBe(true);
  const reconcile = await client.workflow.getHandle(result.reconcileWorkflowId!).result();
  expect(reconcile.results.map((r: { target: string }) => r.target).sort()).toEqual(['app', 'aws']);
  expect((await idflowUsers()).length).toBeGreaterThan(40);
  // The fresh cursor works.
  expect(await run(deltaSyncWorkflow)).toMatchObject({ resyncRequired: false });
});
