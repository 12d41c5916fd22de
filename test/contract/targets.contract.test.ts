import { applyIdentityPlans } from '../../activities/apply-plan';
import { applyAction } from '../../activities/identity';
import type { TargetConnector } from '../../targets/connector';
import { type AccountPlan, planAccount } from '../../domain/plan';
import type { DesiredAccount } from '../../domain/types';
import { type Harness, HARNESSES } from './harness';
import { failure } from './support';

/**
 * The target contract: the same cases against every connector, on the real test servers (moto,
 * scim2-server), each case on a fresh state. A new target is one module plus one HARNESSES entry.
 */
describe.each(HARNESSES)('target contract: %s', (_label, build) => {
  const h: Harness = build();
  const [A, B, C] = h.attrs;

  beforeEach(() => h.reset());
  afterAll(() => h.teardown());

  const input = (name: string, overrides: Partial<{ externalId: string; enabled: boolean; attributes: Record<string, string> }> = {}) => ({
    userName: h.user(name),
    externalId: overrides.externalId ?? `src-${name}`,
    employeeId: `E-${name}`,
    enabled: overrides.enabled ?? true,
    attributes: overrides.attributes ?? { [A]: h.value(1), [B]: h.value(2) },
  });

  /** How a write names the account it is for: its name and the identity it must be marked for. */
  const ref = (name: string) => ({ userName: h.user(name), externalId: `src-${name}` });

  function desired(name: string, groups: string[]): DesiredAccount {
    return {
      userName: h.user(name),
      externalId: `src-${name}`,
      employeeId: `E-${name}`,
      enabled: true,
      attributes: { [A]: h.value(1), [B]: h.value(2) },
      createOnlyAttributes: [],
      managedAttributes: [A, B, C],
      groups,
    };
  }

  async function planFor(c: TargetConnector, want: DesiredAccount): Promise<AccountPlan> {
    return planAccount({
      target: 't',
      employeeId: want.employeeId,
      externalId: want.externalId,
      desired: want,
      onAbsent: 'disable',
      actual: await c.findAccount(want.userName),
      managedGroups: Object.values(h.groupMap()),
      existingGroups: await c.existingGroups(want.groups),
      createMissingGroups: true,
      maxGroupsPerUser: c.maxGroupsPerUser,
    });
  }

  test('create, then findAccount reads back exactly what was written', async () => {
    const { connector } = h.make();
    const created = await connector.createAccount(input('alice'));
    const found = await connector.findAccount(h.user('alice'));
    expect(found).toEqual(created);
    expect(found).toMatchObject({ userName: h.user('alice'), externalId: 'src-alice', enabled: true, owned: true, groups: [], attributes: { [A]: h.value(1), [B]: h.value(2) } });
    expect(found!.employeeId).toBe(h.storesEmployeeId ? 'E-alice' : null);
    expect(await connector.findAccount(h.user('nobody'))).toBeNull();

    const disabled = await connector.createAccount(input('bob', { enabled: false }));
    expect(disabled.enabled).toBe(false);
  });

  test('findAccountsByEmployeeId: every account carrying the employee id idflow wrote, exactly that id, whatever the source id', async () => {
    const { connector } = h.make();
    const alice = await connector.createAccount(input('alice'));
    await connector.createAccount(input('bob'));
    if (!h.storesEmployeeId) {
      expect(await connector.findAccountsByEmployeeId('E-alice')).toEqual([]);
      return;
    }
    // A second Entra user given the same employee id: both accounts are found (a leaver revokes both).
    const twin = await connector.createAccount({ ...input('alice2'), employeeId: 'E-alice' });
    const found = await connector.findAccountsByEmployeeId('E-alice');
    expect(found.map((a) => a.id).sort()).toEqual([alice.id, twin.id].sort());
    expect(found.every((a) => a.owned && a.employeeId === 'E-alice')).toBe(true);
    expect(await connector.findAccountsByEmployeeId('E-ALICE')).toEqual([]);
    expect(await connector.findAccountsByEmployeeId('E-nobody')).toEqual([]);
  });

  test('create twice (a crash-retry) gives one account and no second create call', async () => {
    const m = h.make();
    const first = await m.connector.createAccount(input('alice'));
    m.clear();
    const second = await m.connector.createAccount(input('alice'));
    expect(second.id).toBe(first.id);
    expect(m.writes()).toEqual([]);
    expect(await h.accountsNamed(h.user('alice'))).toBe(1);
  });

  test('create whose answer was lost: the retry finds the account and creates no duplicate', async () => {
    const m = h.make({ loseResponseOnce: h.createCall });
    const lost = await failure(m.connector.createAccount(input('alice')));
    expect(lost.nonRetryable).toBe(false);
    const retried = await m.connector.createAccount(input('alice'));
    expect(retried).toMatchObject({ userName: h.user('alice'), owned: true, externalId: 'src-alice' });
    expect(m.writes().filter((w) => w === h.createCall)).toHaveLength(1);
    expect(await h.accountsNamed(h.user('alice'))).toBe(1);
  });

  test("create over another identity's account is a conflict, and writes nothing", async () => {
    const m = h.make();
    await m.connector.createAccount(input('alice'));
    m.clear();
    const f = await failure(m.connector.createAccount(input('alice', { externalId: 'src-someone-else' })));
    expect(f).toMatchObject({ type: 'Target.conflict', nonRetryable: true });
    expect(m.writes()).toEqual([]);
  });

  test('update sends only the changed attributes on the wire', async () => {
    const m = h.make();
    await m.connector.createAccount(input('alice'));
    m.clear();
    await m.connector.updateAccount(ref('alice'), [
      { attribute: A, from: h.value(1), to: h.value(7) },
      { attribute: B, from: h.value(2), to: null },
      { attribute: C, from: null, to: h.value(3) },
    ]);
    expect(m.updatePayload()).toEqual({ set: { [A]: h.value(7), [C]: h.value(3) }, unset: [B] });
    expect((await m.connector.findAccount(h.user('alice')))!.attributes).toEqual({ [A]: h.value(7), [C]: h.value(3) });

    // Nothing changed: nothing sent. The same changes again (a retry): nothing left to send.
    m.clear();
    await m.connector.updateAccount(ref('alice'), []);
    expect(m.writes()).toEqual([]);
  });

  test('disable revokes access and managed memberships; enable gives access back', async () => {
    const m = h.make();
    await m.connector.createGroup(h.group('eng'));
    await m.connector.createAccount(input('alice'));
    await m.connector.addMember(h.user('alice'), h.group('eng'));
    await h.addCredentials(h.user('alice'));
    expect(await h.lockedOut(h.user('alice'))).toBe(false);

    const record = await m.connector.disableAccount(ref('alice'));
    expect(record.removedGroups).toEqual([h.group('eng')]);
    expect(await h.lockedOut(h.user('alice'))).toBe(true);
    expect(await m.connector.findAccount(h.user('alice'))).toMatchObject({ enabled: false, groups: [] });

    // Idempotent: a second disable (a retry) succeeds and still reports what was removed.
    const again = await m.connector.disableAccount(ref('alice'));
    expect(again.deactivatedAccessKeys).toEqual(record.deactivatedAccessKeys);

    await m.connector.enableAccount(ref('alice'));
    expect(await h.lockedOut(h.user('alice'))).toBe(false); // IAM: the access keys are back (the password stays deleted)
    expect(await m.connector.findAccount(h.user('alice'))).toMatchObject({ enabled: true });
    await m.connector.enableAccount(ref('alice'));
  });

  test('delete removes the account; deleting again is a no-op', async () => {
    const m = h.make();
    await m.connector.createGroup(h.group('eng'));
    await m.connector.createAccount(input('alice'));
    await m.connector.addMember(h.user('alice'), h.group('eng'));
    const record = await m.connector.deleteAccount(ref('alice'));
    expect(record.steps.length).toBeGreaterThan(0);
    expect(await m.connector.findAccount(h.user('alice'))).toBeNull();
    expect(await h.accountsNamed(h.user('alice'))).toBe(0);
    expect(await m.connector.deleteAccount(ref('alice'))).toEqual({ steps: ['user already gone'] });
    expect((await m.connector.readState()).groups.find((g) => g.name === h.group('eng'))).toBeTruthy();
  });

  test('add and remove members are idempotent, one at a time and in batches', async () => {
    const m = h.make({ memberBatchSize: 2 });
    const eng = await m.connector.createGroup(h.group('eng'));
    expect(eng).toMatchObject({ name: h.group('eng'), owned: true });
    expect(await m.connector.createGroup(h.group('eng'))).toEqual(eng); // again: no error, the same group
    expect((await m.connector.readState()).groups.find((g) => g.name === h.group('eng'))).toEqual(eng);
    expect(await m.connector.existingGroups([h.group('eng'), h.group('sales')])).toEqual(new Set([h.group('eng')]));
    for (const n of ['alice', 'bob', 'carol']) await m.connector.createAccount(input(n));

    await m.connector.addMember(h.user('alice'), h.group('eng'));
    await m.connector.addMember(h.user('alice'), h.group('eng'));
    expect((await m.connector.findAccount(h.user('alice')))!.groups).toEqual([h.group('eng')]);

    await m.connector.addMembers(h.group('eng'), [h.user('alice'), h.user('bob'), h.user('carol')]);
    const state = await m.connector.readState();
    expect(state.accounts.map((a) => [a.userName, a.groups])).toEqual(['alice', 'bob', 'carol'].map((n) => [h.user(n), [h.group('eng')]]));

    await m.connector.removeMember(h.user('alice'), h.group('eng'));
    await m.connector.removeMember(h.user('alice'), h.group('eng'));
    await m.connector.removeMembers(h.group('eng'), [h.user('bob'), h.user('carol'), h.user('alice')]);
    await m.connector.removeMember(h.user('alice'), h.group('nonexistent'));
    for (const n of ['alice', 'bob', 'carol']) expect((await m.connector.findAccount(h.user(n)))!.groups).toEqual([]);

    const missing = await failure(m.connector.addMember(h.user('alice'), h.group('nonexistent')));
    expect(missing).toMatchObject({ type: 'Target.missingGroup', nonRetryable: true });
  });

  test('batched membership writes given the run\'s read: no member or group is read again; one the read saw as not owned is refused', async () => {
    const m = h.make();
    await m.connector.createGroup(h.group('eng'));
    for (const n of ['alice', 'bob']) await m.connector.createAccount(input(n));
    const state = await m.connector.readState();
    const known = { accounts: new Map(state.accounts.map((a) => [a.userName, a])), groups: new Map(state.groups.map((g) => [g.name, g])) };
    m.clear();
    await m.connector.addMembers(h.group('eng'), [h.user('alice'), h.user('bob')], known);
    expect(m.reads()).toBe(0);
    expect(m.writes().length).toBeGreaterThan(0);
    expect((await m.connector.readState()).accounts.map((a) => [a.userName, a.groups])).toEqual(['alice', 'bob'].map((n) => [h.user(n), [h.group('eng')]]));
    m.clear();
    await m.connector.removeMembers(h.group('eng'), [h.user('alice')], known);
    expect(m.reads()).toBe(0);
    expect((await m.connector.findAccount(h.user('alice')))!.groups).toEqual([]);

    // A member the read did not see is read and checked at the point of change, as without `known`.
    const name = h.user('mallory');
    await h.createUnowned(name);
    const before = await h.snapshot(name);
    m.clear();
    expect(await failure(m.connector.addMembers(h.group('eng'), [name], known))).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    const seenUnowned = { ...known, accounts: new Map([[name, { ...(await m.connector.findAccount(name))!, owned: false }]]) };
    expect(await failure(m.connector.addMembers(h.group('eng'), [name], seenUnowned))).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(m.writes()).toEqual([]);
    expect(await h.snapshot(name)).toEqual(before);
  });

  test('a reconcile\'s apply stops starting identities once cancelled: what ran is whole, nothing after it is written', async () => {
    const m = h.make();
    const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6'];
    const plans = await Promise.all(names.map(async (n) => ({ employeeId: `E-${n}`, userName: h.user(n), ...(await planFor(m.connector, desired(n, []))) })));
    const aborted = new AbortController();
    aborted.abort();
    await expect(applyIdentityPlans(m.connector, plans, { concurrency: 1, skip: () => false, progress: () => undefined, signal: aborted.signal })).rejects.toThrow(/aborted/i);
    expect(m.writes()).toEqual([]);

    const cancel = new AbortController();
    const run = applyIdentityPlans(m.connector, plans, { concurrency: 1, skip: () => false, progress: (p) => p.done === 2 && cancel.abort(), signal: cancel.signal });
    await expect(run).rejects.toThrow(/aborted/i);
    expect((await m.connector.readState()).accounts.map((a) => a.userName)).toEqual(['u1', 'u2'].map(h.user));
  });

  test('create told the run\'s read found no such account: no look-up before the create, and a conflict still refuses an account that is not ours', async () => {
    const m = h.make();
    m.clear();
    await m.connector.createAccount({ ...input('alice'), absentInRead: true });
    expect(await h.accountsNamed(h.user('alice'))).toBe(1);
    const name = h.user('mallory');
    await h.createUnowned(name);
    const before = await h.snapshot(name);
    m.clear();
    const f = await failure(m.connector.createAccount({ ...input('mallory'), userName: name, absentInRead: true }));
    expect(f).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(await h.snapshot(name)).toEqual(before);
    expect(await h.accountsNamed(name)).toBe(1);
  });

  test('adoption (config unmatched: adopt) takes over an unmarked account, never one marked by someone else', async () => {
    const m = h.make();
    const name = h.user('hank');
    await h.createUnmarked(name);
    expect(await m.connector.findAccount(name)).toMatchObject({ owned: false, externalId: null });
    const adopted = await m.connector.createAccount({ ...input('hank'), userName: name, adopt: true });
    expect(adopted).toMatchObject({ userName: name, owned: true, externalId: 'src-hank', attributes: { [A]: h.value(1), [B]: h.value(2) } });
    expect(await h.accountsNamed(name)).toBe(1);

    const marked = h.user('mark');
    await h.createMarkedByOther(marked);
    const before = await h.snapshot(marked);
    const f = await failure(m.connector.createAccount({ ...input('mark'), userName: marked, adopt: true }));
    expect([f.type, f.nonRetryable]).toEqual(['Target.notOwned', true]);
    expect(await h.snapshot(marked)).toEqual(before);
  });

  test("a write on one identity's behalf never touches an account marked for another", async () => {
    const m = h.make();
    await m.connector.createGroup(h.group('eng'));
    await m.connector.createAccount(input('orla'));
    await m.connector.addMember(h.user('orla'), h.group('eng'));
    const before = await h.snapshot(h.user('orla'));
    // Owen's leaver, purge or mover reaching Orla's account by a name they share.
    const owen = { userName: h.user('orla'), externalId: 'src-owen' };
    m.clear();
    for (const [what, attempt] of [
      ['renameAccount', () => m.connector.renameAccount(owen, h.user('owen'))],
      ['updateAccount', () => m.connector.updateAccount(owen, [{ attribute: A, from: h.value(1), to: h.value(9) }])],
      ['enableAccount', () => m.connector.enableAccount(owen)],
      ['disableAccount', () => m.connector.disableAccount(owen)],
      ['deleteAccount', () => m.connector.deleteAccount(owen)],
    ] as [string, () => Promise<unknown>][]) {
      const f = await failure(attempt());
      expect([what, f.type, f.nonRetryable]).toEqual([what, 'Target.conflict', true]);
    }
    expect(m.writes()).toEqual([]);
    expect(await h.snapshot(h.user('orla'))).toEqual(before);
  });

  test('a rename happens in place: same account, groups and marker, found by its marker under the new name', async () => {
    const m = h.make();
    await m.connector.createGroup(h.group('eng'));
    const created = await m.connector.createAccount(input('ada'));
    await m.connector.addMember(h.user('ada'), h.group('eng'));
    await h.addCredentials(h.user('ada'));

    await m.connector.renameAccount(ref('ada'), h.user('byron'));
    expect(await m.connector.findAccount(h.user('ada'))).toBeNull();
    const renamed = await m.connector.findAccount(h.user('byron'));
    expect(renamed).toMatchObject({ id: created.id, userName: h.user('byron'), externalId: 'src-ada', owned: true, groups: [h.group('eng')] });
    expect(await h.lockedOut(h.user('byron'))).toBe(false);
    // Another worker's connector, whose index knew the old name, still finds the person by the marker.
    expect(await h.make().connector.findAccountByExternalId('src-ada')).toEqual(renamed);
    expect(await m.connector.findAccountByExternalId('src-ada')).toEqual(renamed);
    expect((await m.connector.readState()).accounts.filter((a) => a.externalId === 'src-ada')).toHaveLength(1);

    // A retry after a crash: already renamed, nothing is sent.
    m.clear();
    await m.connector.renameAccount(ref('ada'), h.user('byron'));
    expect(m.writes()).toEqual([]);

    // A case-only rename is in place too.
    await m.connector.renameAccount({ userName: h.user('byron'), externalId: 'src-ada' }, h.user('Byron'));
    expect(await m.connector.findAccountByExternalId('src-ada')).toMatchObject({ id: created.id, userName: h.user('Byron') });
  });

  test('a rename onto a name another account holds is a conflict and changes nothing', async () => {
    const m = h.make();
    await m.connector.createAccount(input('ada'));
    await m.connector.createAccount(input('bea'));
    await h.createUnowned(h.user('carl'));
    const before = [await h.snapshot(h.user('ada')), await h.snapshot(h.user('bea')), await h.snapshot(h.user('carl'))];
    for (const taken of [h.user('bea'), h.user('BEA'), h.user('carl')]) {
      const f = await failure(m.connector.renameAccount(ref('ada'), taken));
      expect([taken, f.type, f.nonRetryable]).toEqual([taken, 'Target.conflict', true]);
    }
    expect([await h.snapshot(h.user('ada')), await h.snapshot(h.user('bea')), await h.snapshot(h.user('carl'))]).toEqual(before);
  });

  test('an unowned account is reported as such and left untouched by every write', async () => {
    const m = h.make();
    await m.connector.createGroup(h.group('eng'));
    const name = h.user('mallory');
    await h.createUnowned(name);
    const before = await h.snapshot(name);
    const found = await m.connector.findAccount(name);
    expect(found).toMatchObject({ userName: name, owned: false });

    m.clear();
    const attempts: [string, () => Promise<unknown>][] = [
      ['createAccount', () => m.connector.createAccount({ ...input('mallory'), userName: name })],
      ['updateAccount', () => m.connector.updateAccount({ userName: name, externalId: 'src-mallory' }, [{ attribute: A, from: null, to: h.value(9) }])],
      ['enableAccount', () => m.connector.enableAccount({ userName: name, externalId: 'src-mallory' })],
      ['disableAccount', () => m.connector.disableAccount({ userName: name, externalId: 'src-mallory' })],
      ['deleteAccount', () => m.connector.deleteAccount({ userName: name, externalId: 'src-mallory' })],
      ['addMember', () => m.connector.addMember(name, h.group('eng'))],
      ['removeMember', () => m.connector.removeMember(name, h.group('eng'))],
      ['addMembers', () => m.connector.addMembers(h.group('eng'), [name])],
      ['removeMembers', () => m.connector.removeMembers(h.group('eng'), [name])],
    ];
    for (const [what, attempt] of attempts) {
      const f = await failure(attempt());
      expect([what, f.type, f.nonRetryable]).toEqual([what, 'Target.notOwned', true]);
    }
    expect(m.writes()).toEqual([]);
    expect(await h.snapshot(name)).toEqual(before);
  });

  test('a name that differs only in case from an unowned account is refused, not created', async () => {
    const m = h.make();
    await h.createUnowned(h.user('Casey'));
    m.clear();
    const f = await failure(m.connector.createAccount(input('casey')));
    expect(f).toMatchObject({ type: 'Target.notOwned', nonRetryable: true });
    expect(m.writes()).toEqual([]);
    expect(await h.accountsNamed(h.user('casey'))).toBe(1);
  });

  test('readState pages through small pages and returns every owned account with its groups', async () => {
    const base = await h.make().connector.readState();
    const setup = h.make();
    await setup.connector.createGroup(h.group('eng'));
    await setup.connector.createGroup(h.group('sales'));
    const names = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7'];
    for (const n of names) await setup.connector.createAccount(input(n));
    await setup.connector.addMembers(h.group('eng'), names.slice(0, 4).map(h.user));
    await setup.connector.addMembers(h.group('sales'), [h.user('u4')]);
    await h.createUnowned(h.user('hand1'));
    await h.createUnowned(h.user('hand2'));

    const m = h.make({ pageSize: 2 });
    const state = await m.connector.readState();
    expect(state.accounts.map((a) => a.userName)).toEqual(names.map(h.user));
    expect(state.accounts.every((a) => a.owned)).toBe(true);
    expect(Object.fromEntries(state.accounts.map((a) => [a.userName, a.groups]))).toEqual({
      [h.user('u1')]: [h.group('eng')],
      [h.user('u2')]: [h.group('eng')],
      [h.user('u3')]: [h.group('eng')],
      [h.user('u4')]: [h.group('eng'), h.group('sales')].sort(),
      [h.user('u5')]: [],
      [h.user('u6')]: [],
      [h.user('u7')]: [],
    });
    expect(state.groups.filter((g) => g.name.startsWith(h.group(''))).map((g) => [g.name, g.owned])).toEqual([
      [h.group('eng'), true],
      [h.group('sales'), true],
    ]);
    expect(state.unownedCount - base.unownedCount).toBe(2);
    // More than one page was read, and the read cost is pages, not accounts.
    expect(state.calls).toBeGreaterThan(2);
    expect(state.calls).toBe(m.reads());
  });

  test('a crash between two writes: re-planning and re-applying converges with no duplicates', async () => {
    const m = h.make();
    const want = desired('dana', [h.group('eng'), h.group('sales')]);
    const first = await planFor(m.connector, want);
    expect(first.actions.map((a) => a.op)).toEqual(['createGroup', 'createGroup', 'create', 'addMember', 'addMember']);

    // The worker dies after the account is created, before any membership is written.
    for (const action of first.actions.slice(0, 3)) await applyAction(m.connector, action);

    // Temporal retries the activity: it plans again from what the target now holds.
    const second = await planFor(m.connector, want);
    expect(second.actions.map((a) => [a.op, 'group' in a ? a.group : null])).toEqual([
      ['addMember', h.group('eng')],
      ['addMember', h.group('sales')],
    ]);
    for (const action of second.actions) await applyAction(m.connector, action);

    // Even the stale first plan, applied again in full, changes nothing and fails nowhere.
    for (const action of first.actions) await applyAction(m.connector, action);

    const third = await planFor(m.connector, want);
    expect(third).toEqual({ actions: [], findings: [] });
    expect(await h.accountsNamed(want.userName)).toBe(1);
    const state = await m.connector.readState();
    expect(state.accounts.filter((a) => a.userName === want.userName)).toEqual([expect.objectContaining({ groups: [h.group('eng'), h.group('sales')].sort(), externalId: 'src-dana' })]);
  });

  test('a write to an account that does not exist is a retryable not-found (the retry plans again)', async () => {
    const { connector } = h.make();
    for (const attempt of [
      () => connector.updateAccount(ref('ghost'), [{ attribute: A, from: null, to: h.value(1) }]),
      () => connector.enableAccount(ref('ghost')),
    ]) {
      expect(await failure(attempt())).toMatchObject({ type: 'Target.notFound', nonRetryable: false });
    }
    // Revoking and removing what is not there is already done.
    expect((await connector.disableAccount(ref('ghost'))).removedGroups).toEqual([]);
    expect(await connector.deleteAccount(ref('ghost'))).toEqual({ steps: ['user already gone'] });
  });
});
