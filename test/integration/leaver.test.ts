import { TENANT_DOMAIN } from '../../simulator/certs';
import { statusQuery } from '../../workflows/identity';
import { eventually, idflowUsers, userGroups, userTags } from '../support/iam';
import { entra, newUser, runReconcile, sendEvent, settled } from '../support/lifecycle';
import { idflow, resetTargets, scimUsers, temporalClient } from '../support/stack';

/**
 * A leaver is never lost, never delayed and never undone, on the real stack (Entra ID simulator,
 * moto IAM, scim2-server, Temporal). Each case was reproduced against the code before the fix.
 * The test worker keeps leavers for 8 s before the purge.
 */

async function iamAccountOf(employeeId: string): Promise<{ name: string; status: string } | null> {
  for (const name of await idflowUsers()) {
    const tags = await userTags(name).catch(() => ({}) as Record<string, string>);
    if (tags['idflow:employee-id'] === employeeId) return { name, status: tags['idflow:status'] ?? '' };
  }
  return null;
}

async function scimAccountOf(userName: string): Promise<{ active: boolean } | null> {
  const u = (await scimUsers()).find((x) => x.userName === userName);
  return u ? { active: u.active !== false } : null;
}

/** Neither target still grants the person anything: disabled, or (after the purge) gone. */
async function revokedEverywhere(employeeId: string, scimUserName: string): Promise<void> {
  const iam = await iamAccountOf(employeeId);
  if (iam) expect(iam.status).toBe('disabled');
  const scim = await scimAccountOf(scimUserName);
  if (scim) expect(scim.active).toBe(false);
}

async function faults(method: 'POST' | 'DELETE', spec?: Record<string, unknown>): Promise<void> {
  await entra.call(method, '/_admin/faults', spec);
}

beforeEach(async () => {
  await faults('DELETE');
  await resetTargets();
  await entra.reset();
});

afterAll(async () => {
  await faults('DELETE');
});

test('with Entra ID down, a leaver still revokes both targets, found by the markers idflow wrote', async () => {
  await newUser('E2101', 'lena.fischer', 'Lena Fischer');
  expect(sendEvent('joiner', 'E2101').outcome).toBe('provisioned');
  await settled(['E2101']);
  expect(await iamAccountOf('E2101')).toMatchObject({ status: 'enabled' });

  // Every Graph request fails; the workflow is new (it has never seen her object id).
  await faults('POST', { status: 503, retryAfter: 0, pathPrefix: '/v1.0/', durationMs: 60_000 });
  const leaver = sendEvent('leaver', 'E2101');
  expect(leaver.outcome).toBe('pending');
  expect(leaver.error).toMatch(/Entra ID did not answer/);
  expect(leaver.cli.status).toBe(5);
  for (const t of leaver.targets) expect(t).toMatchObject({ verified: true, actions: 1 });
  await revokedEverywhere('E2101', `lena.fischer@${TENANT_DOMAIN}`);

  // Entra ID answers again; the retention (8 s here) ends with the purge, which finds her accounts too.
  await faults('DELETE');
  await settled(['E2101']);
  const { client, close } = await temporalClient();
  try {
    const { recent } = await client.workflow.getHandle('identity-E2101').query(statusQuery);
    expect(recent.find((r) => r.type === 'retention-ended')).toMatchObject({ outcome: 'provisioned' });
    expect(recent.at(-1)!.outcome).not.toBe('pending');
  } finally {
    await close();
  }
  expect(await iamAccountOf('E2101')).toBeNull();
  expect(await scimAccountOf(`lena.fischer@${TENANT_DOMAIN}`)).toBeNull();
}, 120_000);

test('an employee id changed in Entra ID, and a second Entra user with the same id: the leaver revokes the accounts idflow made for it', async () => {
  await newUser('E2102', 'malik.osei', 'Malik Osei');
  expect(sendEvent('joiner', 'E2102').outcome).toBe('provisioned');
  await settled(['E2102']);
  // Entra ID now says E2199 for him, and someone else has been given E2102.
  await entra.setUser('E2102', { employeeId: 'E2199' });
  await newUser('E2102', 'malik.osei2', 'Malika Osei', false);

  const leaver = sendEvent('leaver', 'E2102');
  expect(leaver.outcome).toBe('provisioned');
  expect(leaver.targets.map((t) => t.actions)).toEqual([1, 1]);
  expect(await iamAccountOf('E2102')).toMatchObject({ name: 'malik.osei', status: 'disabled' });
  expect(await scimAccountOf(`malik.osei@${TENANT_DOMAIN}`)).toEqual({ active: false });
}, 120_000);

test('a future-dated joiner for someone already working here never disables her, and a leaver is not held behind it', async () => {
  expect(sendEvent('joiner', 'E1003').outcome).toBe('provisioned');
  await settled(['E1003']);
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  const r = idflow(['event', 'joiner', '--employee-id', 'E1003', '--effective-at', tomorrow, '--event-id', 'conversion-E1003']);
  expect(r.status).toBe(0);
  const { client, close } = await temporalClient();
  try {
    const handle = client.workflow.getHandle('identity-E1003');
    await eventually('the scheduled joiner', async () => (await handle.query(statusQuery)).scheduled ?? [], (s) => s.length === 1);
    expect((await handle.query(statusQuery)).recent.find((o) => o.eventId === 'conversion-E1003:prepared')).toMatchObject({ outcome: 'verified' });
    expect(await iamAccountOf('E1003')).toMatchObject({ name: 'jose.alvarez', status: 'enabled' });
    expect(await scimAccountOf(`jose.alvarez@${TENANT_DOMAIN}`)).toEqual({ active: true });

    // The joiner waits a day on its own timer; the leaver goes through at once.
    const started = Date.now();
    expect(sendEvent('leaver', 'E1003').outcome).toBe('provisioned');
    expect(Date.now() - started).toBeLessThan(20_000);
    await revokedEverywhere('E1003', `jose.alvarez@${TENANT_DOMAIN}`);
    await handle.terminate('test over');
  } finally {
    await close();
  }
}, 120_000);

test('a reconcile whose slow source read began before a leaver never re-enables that leaver', async () => {
  await newUser('E2105', 'ines.moreau', 'Ines Moreau');
  expect(sendEvent('joiner', 'E2105').outcome).toBe('provisioned');
  await settled(['E2105']);

  // The reconcile reads groups and their members slowly (each target's listing waits 3 s twice);
  // the leaver's own look-ups are by user. Short enough that the 8 s retention has not ended yet.
  await faults('POST', { latencyMs: 3_000, pathPrefix: '/v1.0/groups', count: 4 });
  const reconcile = runReconcile({}, `test-leaver-reconcile-${Date.now()}`);
  await new Promise((r) => setTimeout(r, 1_500));
  expect(sendEvent('leaver', 'E2105').outcome).toBe('provisioned');
  await revokedEverywhere('E2105', `ines.moreau@${TENANT_DOMAIN}`);

  const result = await reconcile;
  // The targets were empty before her joiner, so the reconcile creates everyone else; nobody needs enabling.
  for (const t of result.results) {
    expect(t.applied.enable).toBe(0);
    expect(t.skipped.sample).toContain('E2105');
  }
  await revokedEverywhere('E2105', `ines.moreau@${TENANT_DOMAIN}`);
  if (await iamAccountOf('E2105')) expect(await userGroups('ines.moreau')).toEqual([]);
}, 120_000);
