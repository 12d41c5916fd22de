import { AddUserToGroupCommand, CreateGroupCommand, CreateUserCommand, TagUserCommand } from '@aws-sdk/client-iam';
import type { Client } from '@temporalio/client';
import { approveUpdate, type ReconcileResult, progressQuery, reconcileWorkflow } from '../../workflows/reconcile';
import { IdflowAwaitingApproval } from '../../workflows/search-attributes';
import { EntraAdmin } from '../support/entra-admin';
import { eventually, idflowUsers, userGroups, userTags } from '../support/iam';
import { iamClient, idflow, resetTargets, temporalClient, testStack } from '../support/stack';

/** Full sync against the real stack: 60 simulated people, moto as AWS IAM (test/global-setup.ts). */
const iam = iamClient();
const entra = new EntraAdmin();
let client: Client;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ client, close } = await temporalClient());
});
afterAll(async () => close());

beforeEach(async () => {
  await resetTargets();
  await entra.reset();
  // Identity workflows left from other tests would (rightly) make a reconcile skip those people.
  await eventually('no identity workflow running', async () => {
    let n = 0;
    for await (const _ of client.workflow.list({ query: `WorkflowType = 'identityWorkflow' AND ExecutionStatus = 'Running'` })) n += 1;
    return n;
  }, (n) => n === 0, 60_000);
});

async function accounts(): Promise<{ name: string; tags: Record<string, string> }[]> {
  return Promise.all((await idflowUsers()).map(async (name) => ({ name, tags: await userTags(name) })));
}

let seq = 0;
async function reconcile(args: { dryRun?: boolean; approvalTimeout?: string } = {}): Promise<ReconcileResult> {
  return client.workflow.execute(reconcileWorkflow, { workflowId: `test-reconcile-${Date.now()}-${seq++}`, taskQueue: 'idflow', args: [args as never] });
}

test('a dry run plans every account and writes nothing; the real run makes exactly that plan; then nothing is left', async () => {
  const dry = await reconcile({ dryRun: true });
  const [aws] = dry.results;
  expect(aws!.dryRun).toBe(true);
  expect(aws!.planned.create).toBeGreaterThan(40);
  expect(aws!.planned.createGroup).toBe(5);
  expect(aws!.applied).toEqual(expect.objectContaining({ create: 0, addMember: 0, createGroup: 0 }));
  expect(await idflowUsers()).toEqual([]);

  const real = await reconcile();
  const [applied] = real.results;
  expect(applied!.planned).toEqual(aws!.planned);
  expect(applied!.applied).toEqual(aws!.planned);
  expect(applied!.failures.count).toBe(0);
  expect(applied!.verify).toEqual({ checked: true, remaining: 0 });
  expect(await idflowUsers()).toHaveLength(aws!.planned.create);

  const again = await reconcile();
  expect(Object.values(again.results[0]!.planned).every((n) => n === 0)).toBe(true);
  expect(again.results[0]!.reads.targetCalls).toBeLessThanOrEqual(5);
});

test('drift made directly in IAM is reported and repaired; what idflow does not own is left alone', async () => {
  await reconcile();
  // By hand: an engineer added to the admin group, a tag edited, a foreign user in idflow's path and group.
  await iam.send(new AddUserToGroupCommand({ UserName: 'jose.alvarez', GroupName: 'idflow-admins' }));
  await iam.send(new TagUserCommand({ UserName: 'ada.lovelace', Tags: [{ Key: 'Department', Value: 'Sales' }] }));
  await iam.send(new CreateUserCommand({ UserName: 'break-glass', Path: '/idflow/' }));
  await iam.send(new AddUserToGroupCommand({ UserName: 'break-glass', GroupName: 'idflow-admins' }));
  await iam.send(new CreateGroupCommand({ GroupName: 'hand-made', Path: '/' }));
  await iam.send(new AddUserToGroupCommand({ UserName: 'ada.lovelace', GroupName: 'hand-made' }));

  const result = (await reconcile()).results[0]!;
  expect(result.drift.count).toBe(2);
  expect(result.drift.sample).toEqual(
    expect.arrayContaining([expect.stringMatching(/^removeMember jose.alvarez idflow-admins/), expect.stringMatching(/^update ada.lovelace Department/)]),
  );
  expect(await userGroups('jose.alvarez')).toEqual(['idflow-all-staff', 'idflow-sales']);
  expect((await userTags('ada.lovelace')).Department).toBe('Engineering');
  // Not idflow's: untouched.
  expect(await userGroups('break-glass')).toEqual(['idflow-admins']);
  expect(await userGroups('ada.lovelace')).toContain('hand-made');
});

test('a userName changed by hand in the SCIM app is drift: planned as a rename, with its reason, and put back in place', async () => {
  await reconcile();
  const { baseUrl, token } = testStack().scim;
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' };
  const find = async (userName: string) => ((await (await fetch(`${baseUrl}/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`, { headers })).json()) as { Resources?: { id: string; externalId: string }[] }).Resources ?? [];
  const [ada] = await find('ada.lovelace@contoso.example');
  expect(ada).toBeDefined();
  const renamed = await fetch(`${baseUrl}/Users/${ada!.id}`, { method: 'PATCH', headers, body: JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'userName', value: 'ada.by.hand@contoso.example' }] }) });
  expect(renamed.ok).toBe(true);

  const app = (await reconcile()).results.find((r) => r.target === 'app')!;
  expect(app.drift.sample).toEqual(expect.arrayContaining([expect.stringMatching(/^rename ada\.lovelace@contoso\.example .*"ada\.by\.hand@contoso\.example" is not the derived name/)]));
  const [back] = await find('ada.lovelace@contoso.example');
  expect(back).toMatchObject({ id: ada!.id, externalId: ada!.externalId });
  expect(await find('ada.by.hand@contoso.example')).toEqual([]);
});

test('a failure no retry can fix (the name is taken by an account idflow does not own) is reported after one round, and that account is left alone', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'ada.lovelace', Path: '/idflow/', Tags: [{ Key: 'Department', Value: 'Hand-made' }] }));
  const result = (await reconcile()).results[0]!;
  expect(result.rounds).toBeUndefined();
  expect(result.failures).toMatchObject({ count: 1, retryable: 0 });
  expect(result.failures.sample[0]).toMatchObject({ employeeId: 'E1001', retryable: false, error: expect.stringMatching(/ada\.lovelace .*not owned by idflow/) });
  expect(await userTags('ada.lovelace')).toEqual({ Department: 'Hand-made' });
  expect(await userGroups('ada.lovelace')).toEqual([]);
  // Everyone else was reconciled in that one round.
  expect(result.applied.create).toBe(result.planned.create - 1);
});

describe('the mass-deletion guard', () => {
  /** Twelve people with enabled accounts leave at once in Entra ID (past the first few, which other tests use). */
  async function disableInEntra(): Promise<string[]> {
    const enabled = (await accounts()).filter((a) => a.tags['idflow:status'] === 'enabled' && a.tags['idflow:employee-id']! > 'E1009');
    const ids = enabled.slice(0, 12).map((a) => a.tags['idflow:employee-id']!);
    for (const id of ids) await entra.setUser(id, { accountEnabled: false });
    return ids;
  }

  async function startHeld(approvalTimeout: string) {
    const handle = await client.workflow.start(reconcileWorkflow, { workflowId: `test-guard-${Date.now()}-${seq++}`, taskQueue: 'idflow', args: [{ approvalTimeout: approvalTimeout as never }] });
    await eventually('the run to wait for approval', () => handle.query(progressQuery), (p) => p.phase === 'awaiting approval');
    return handle;
  }

  async function enabledCount(): Promise<number> {
    let n = 0;
    for (const name of await idflowUsers()) if ((await userTags(name))['idflow:status'] === 'enabled') n += 1;
    return n;
  }

  test('holds the disables above the threshold, applies the rest, and applies them once approved', async () => {
    await reconcile();
    const before = await enabledCount();
    await disableInEntra();
    await entra.setUser('E1001', { jobTitle: 'Chief Engineer' });
    const handle = await startHeld('1 minute');
    const progress = await handle.query(progressQuery);
    const reason = expect.stringMatching(/^12 disables\/deletes exceed the threshold of 10 accounts or 20% of \d+ owned accounts$/);
    const digest = expect.stringMatching(/^[0-9a-f]{64}$/);
    expect(progress.held).toEqual([{ target: 'aws', count: 12, reason, digest }, { target: 'app', count: 12, reason, digest }]);
    // Everything else went ahead while the disables wait.
    expect((await userTags('ada.lovelace')).JobTitle).toBe('Chief Engineer');
    expect(await enabledCount()).toBe(before);
    const listed = await eventually('the UI to list the run as awaiting approval', async () => {
      const ids: string[] = [];
      for await (const wf of client.workflow.list({ query: `IdflowAwaitingApproval = true` })) ids.push(wf.workflowId);
      return ids;
    }, (ids) => ids.includes(handle.workflowId));
    expect(listed).toContain(handle.workflowId);

    const approve = idflow(['approve', handle.workflowId, '--note', 'HR bulk termination, ticket 4711']);
    expect(approve.stderr).toBe('');
    expect(approve.stdout).toMatch(/approved by/);
    const result = await handle.result();
    expect(result.decision).toMatchObject({ approved: true, note: 'HR bulk termination, ticket 4711' });
    expect(result.results[0]!.applied.disable).toBe(12);
    expect(await enabledCount()).toBe(before - 12);
    const described = await handle.describe();
    expect(described.typedSearchAttributes.get(IdflowAwaitingApproval)).toBe(false);
  });

  test('a source that returns no people at all is refused outright, not offered for approval', async () => {
    await reconcile();
    const before = await enabledCount();
    const users = await entra.call<{ value: { id: string }[] }>('GET', '/v1.0/users?$select=id&$top=999');
    for (const u of users.value) await entra.call('DELETE', `/_admin/users/${u.id}`);
    const run = reconcile();
    await expect(run).rejects.toMatchObject({ cause: { cause: { message: expect.stringMatching(/^Entra ID returned no people at all, and (aws|app) holds \d+ accounts idflow owns: refusing to plan \(nothing was changed\)/) } } });
    expect(await enabledCount()).toBe(before);
    const listed: string[] = [];
    for await (const wf of client.workflow.list({ query: `IdflowAwaitingApproval = true AND ExecutionStatus = 'Running'` })) listed.push(wf.workflowId);
    expect(listed.filter((id) => id.startsWith('test-reconcile-'))).toEqual([]);
  });

  test('an approval applies exactly the held set it names: a plan that changed since is held for a new approval', async () => {
    await reconcile();
    const before = await enabledCount();
    const gone = await disableInEntra();
    const handle = await startHeld('1 minute');
    const held = (await handle.query(progressQuery)).held;
    expect(held.every((h) => /^[0-9a-f]{64}$/.test(h.digest ?? ''))).toBe(true);
    // A decision that does not name the held set is refused.
    await expect(handle.executeUpdate(approveUpdate, { args: [{ by: 'someone.else@contoso.example' }] })).rejects.toThrow();
    // One more person leaves in Entra ID after the approver looked: the held set is no longer the one approved.
    const another = (await accounts()).find((a) => a.tags['idflow:status'] === 'enabled' && a.tags['idflow:employee-id']! > 'E1009' && !gone.includes(a.tags['idflow:employee-id']!))!;
    await entra.setUser(another.tags['idflow:employee-id']!, { accountEnabled: false });
    await handle.executeUpdate(approveUpdate, { args: [{ by: 'someone.else@contoso.example', digests: Object.fromEntries(held.map((h) => [h.target, h.digest!])) }] });
    const result = await handle.result();
    expect(result.results.every((r) => r.guard.triggered && /changed since they were approved/.test(r.guard.reason))).toBe(true);
    expect(result.results[0]!.applied.disable).toBe(0);
    expect(await enabledCount()).toBe(before);
    expect((await handle.describe()).searchAttributes.IdflowOutcome).toEqual(['held']);
  });

  test('rejected: nothing is disabled', async () => {
    await reconcile();
    const before = await enabledCount();
    await disableInEntra();
    const handle = await startHeld('1 minute');
    expect(idflow(['reject', handle.workflowId]).status).toBe(0);
    const result = await handle.result();
    expect(result.decision).toMatchObject({ approved: false });
    expect(result.results[0]!.applied.disable).toBe(0);
    expect(await enabledCount()).toBe(before);
    // A second decision is refused: the run no longer waits.
    const late = idflow(['approve', handle.workflowId]);
    expect(late.status).toBe(1);
    expect(late.stderr).toMatch(/not waiting for approval|not found|completed/i);
  });

  test('no decision before the timeout means reject; reconcile --json says on stderr that it waits, and prints only the result on stdout', async () => {
    await reconcile();
    const before = await enabledCount();
    await disableInEntra();
    const r = idflow(['reconcile', '--json', '--approval-timeout', '5 seconds']);
    expect(r.stderr).toMatch(/^started reconcile-/m);
    expect(r.stderr).toMatch(/^ {2}awaiting approval: aws 12 disables\/deletes exceed the threshold .*; run: idflow approve reconcile-\S+ \(or reject\)$/m);
    const result = JSON.parse(r.stdout) as ReconcileResult;
    expect(result.decision).toMatchObject({ approved: false, by: 'timeout' });
    expect(await enabledCount()).toBe(before);
  });
});

test('a reconcile never undoes a newer event: a leaver in retention is not re-enabled', async () => {
  await reconcile();
  const leaver = idflow(['event', 'leaver', '--employee-id', 'E1005', '--wait', '--json']);
  expect(leaver.status).toBe(0);
  const e1005 = async () => (await accounts()).find((a) => a.tags['idflow:employee-id'] === 'E1005')!;
  expect((await e1005()).tags['idflow:status']).toBe('disabled');
  // Entra ID still says the account is enabled: a snapshot-driven sync would turn it back on.
  const result = (await reconcile()).results[0]!;
  expect(result.skipped.sample).toContain('E1005');
  expect((await e1005()).tags['idflow:status']).toBe('disabled');
});
