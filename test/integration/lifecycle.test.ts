import { CreateAccessKeyCommand, CreateLoginProfileCommand, ListAccessKeysCommand } from '@aws-sdk/client-iam';
import type { EventOutcome } from '../../workflows/identity';
import { statusQuery } from '../../workflows/identity';
import { settled } from '../support/lifecycle';
import { EntraAdmin } from '../support/entra-admin';
import { eventually, userExists, userGroups, userTags } from '../support/iam';
import { iamClient, idflow, resetTargets, temporalClient } from '../support/stack';

/**
 * Joiner, mover, leaver and rehire against the real stack. The test worker runs with an 8-second
 * leaver retention and a 4-second wait for Entra ID (test/global-setup.ts).
 */
const iam = iamClient();
const entra = new EntraAdmin();

function send(type: string, employeeId: string, ...extra: string[]): EventOutcome {
  const r = idflow(['event', type, '--employee-id', employeeId, '--wait', '--json', ...extra]);
  if (r.stdout.trim() === '') throw new Error(`idflow event ${type} gave no output: ${r.stderr}`);
  return (JSON.parse(r.stdout) as EventOutcome[])[0]!;
}

const waitForIdle = (employeeId: string) => settled([employeeId]);

beforeEach(async () => {
  await resetTargets();
  await entra.reset();
});

test('a mover gets the new department groups and tags, and loses the old ones', async () => {
  expect(send('joiner', 'E1003').outcome).toBe('provisioned');
  expect(await userGroups('jose.alvarez')).toEqual(['idflow-all-staff', 'idflow-sales']);

  await entra.setUser('E1003', { department: 'Finance', jobTitle: 'Controller' });
  await entra.call('DELETE', `/_admin/groups/${await groupId('Sales')}/members/${await entra.userId('E1003')}`);
  await entra.call('POST', `/_admin/groups/${await groupId('Finance')}/members`, { id: await entra.userId('E1003') });

  const moved = send('mover', 'E1003');
  expect(moved.outcome).toBe('provisioned');
  expect(await userGroups('jose.alvarez')).toEqual(['idflow-all-staff', 'idflow-finance']);
  expect(await userTags('jose.alvarez')).toMatchObject({ Department: 'Finance', JobTitle: 'Controller', CostCenter: 'CC-300' });
});

test('a leaver loses access at once, is deleted after retention, with the full clean-up', async () => {
  expect(send('joiner', 'E1002').outcome).toBe('provisioned');
  await iam.send(new CreateLoginProfileCommand({ UserName: 'zoe.obrien-lukasiewicz', Password: 'Str0ng-Passw0rd!' }));
  await iam.send(new CreateAccessKeyCommand({ UserName: 'zoe.obrien-lukasiewicz' }));

  const left = send('leaver', 'E1002');
  expect(left.outcome).toBe('provisioned');
  expect(await userTags('zoe.obrien-lukasiewicz')).toMatchObject({ 'idflow:status': 'disabled' });
  expect(await userGroups('zoe.obrien-lukasiewicz')).toEqual([]);
  const { AccessKeyMetadata } = await iam.send(new ListAccessKeysCommand({ UserName: 'zoe.obrien-lukasiewicz' }));
  expect(AccessKeyMetadata!.map((k) => k.Status)).toEqual(['Inactive']);

  // The durable timer deletes the account when the (8 s) retention ends.
  await eventually('the leaver to be deleted', () => userExists('zoe.obrien-lukasiewicz'), (exists) => !exists, 40_000);
});

test('a rehire during retention cancels the deletion and restores access', async () => {
  expect(send('joiner', 'E1001').outcome).toBe('provisioned');
  await iam.send(new CreateAccessKeyCommand({ UserName: 'ada.lovelace' }));
  expect(send('leaver', 'E1001').outcome).toBe('provisioned');
  expect(await userGroups('ada.lovelace')).toEqual([]);

  const back = send('rehire', 'E1001');
  expect(back.outcome).toBe('provisioned');
  expect(await userTags('ada.lovelace')).toMatchObject({ 'idflow:status': 'enabled' });
  expect(await userGroups('ada.lovelace')).toEqual(['idflow-admins', 'idflow-all-staff', 'idflow-engineering']);
  const { AccessKeyMetadata } = await iam.send(new ListAccessKeysCommand({ UserName: 'ada.lovelace' }));
  expect(AccessKeyMetadata!.map((k) => k.Status)).toEqual(['Active']);

  // Well past the retention, the account is still there: the deletion was cancelled.
  await new Promise((r) => setTimeout(r, 10_000));
  expect(await userExists('ada.lovelace')).toBe(true);
  await waitForIdle('E1001');
});

test('a future-dated joiner gets a disabled account now and access at the start date', async () => {
  const start = new Date(Date.now() + 6_000).toISOString();
  const r = idflow(['event', 'joiner', '--employee-id', 'E1004', '--effective-at', start, '--json']);
  expect(r.status).toBe(0);
  const name = await eventually('the prepared account', async () => (await idflowUsersNow())[0], (n) => n !== undefined);
  expect(await userTags(name!)).toMatchObject({ 'idflow:status': 'disabled', 'idflow:employee-id': 'E1004' });
  expect(await userGroups(name!)).toEqual([]);

  const { client, close } = await temporalClient();
  try {
    const status = await client.workflow.getHandle('identity-E1004').query(statusQuery);
    expect(status.waiting).toBe(`joiner effective at ${start}`);
  } finally {
    await close();
  }
  await eventually('access at the start date', () => userTags(name!), (t) => t['idflow:status'] === 'enabled', 30_000);
  // Groups are added just after the account is enabled, in the same event.
  await eventually('groups at the start date', () => userGroups(name!), (g) => g.length > 0, 30_000);
});

test('a joiner not yet in Entra ID is waited for, then fails with a clear error', async () => {
  const outcome = send('joiner', 'E7777');
  expect(outcome.outcome).toBe('failed');
  expect(outcome.error).toBe('employee E7777 was not found in Entra ID within 4 seconds');
  expect(await idflowUsersNow()).toEqual([]);
});

async function groupId(displayName: string): Promise<string> {
  const page = await entra.call<{ value: { id: string }[] }>('GET', `/v1.0/groups?$filter=${encodeURIComponent(`displayName eq '${displayName}'`)}&$select=id`);
  return page.value[0]!.id;
}

async function idflowUsersNow(): Promise<string[]> {
  const { idflowUsers } = await import('../support/iam');
  return idflowUsers();
}
