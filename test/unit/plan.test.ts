import fc from 'fast-check';
import { type Action, planAccount, type PlanInput, verification } from '../../domain/plan';
import { matchAccount } from '../../domain/match';
import type { ActualAccount, DesiredAccount } from '../../domain/types';

const MANAGED = ['g-admins', 'g-eng', 'g-all', 'g-fin'];

function desired(over: Partial<DesiredAccount> = {}): DesiredAccount {
  return {
    userName: 'ada.lovelace',
    externalId: 'ext-1',
    employeeId: 'E1001',
    enabled: true,
    attributes: { Department: 'Engineering' },
    createOnlyAttributes: [],
    managedAttributes: ['Department', 'JobTitle'],
    groups: ['g-all', 'g-eng'],
    ...over,
  };
}

function actual(over: Partial<ActualAccount> = {}): ActualAccount {
  return { id: 'AID1', userName: 'ada.lovelace', externalId: 'ext-1', employeeId: 'E1001', enabled: true, attributes: { Department: 'Engineering' }, groups: ['g-all', 'g-eng'], owned: true, ...over };
}

function input(over: Partial<PlanInput>): PlanInput {
  return { target: 'aws', employeeId: 'E1001', externalId: 'ext-1', desired: desired(), onAbsent: 'disable', actual: null, managedGroups: MANAGED, existingGroups: new Set(MANAGED), createMissingGroups: true, ...over };
}

/** Applies a plan to an in-memory account the way a connector would. */
function apply(acc: ActualAccount | null, actions: Action[]): ActualAccount | null {
  let a = acc ? { ...acc, attributes: { ...acc.attributes }, groups: [...acc.groups] } : null;
  for (const action of actions) {
    switch (action.op) {
      case 'create':
        a = { id: 'NEW', userName: action.userName, externalId: action.externalId, employeeId: action.employeeId, enabled: action.enabled, attributes: { ...action.attributes }, groups: [], owned: true };
        break;
      case 'update':
        for (const c of action.changes) {
          if (c.to === null) delete a!.attributes[c.attribute];
          else a!.attributes[c.attribute] = c.to;
        }
        break;
      case 'enable':
        a!.enabled = true;
        break;
      case 'disable':
        a!.enabled = false;
        a!.groups = [];
        break;
      case 'delete':
        a = null;
        break;
      case 'addMember':
        a!.groups = [...new Set([...a!.groups, action.group])].sort();
        break;
      case 'removeMember':
        a!.groups = a!.groups.filter((g) => g !== action.group);
        break;
      case 'rename':
        a!.userName = action.userName;
        break;
      case 'createGroup':
        break;
    }
  }
  return a;
}

describe('planAccount', () => {
  test('a joiner with no account: groups, create, then memberships, each with a reason', () => {
    const plan = planAccount(input({ existingGroups: new Set(['g-all']) }));
    expect(plan.actions.map((a) => `${a.op}${'group' in a ? ` ${a.group}` : ''}`)).toEqual(['createGroup g-eng', 'create', 'addMember g-all', 'addMember g-eng']);
    expect(plan.actions.every((a) => a.reason.length > 0)).toBe(true);
    expect(plan.findings).toEqual([]);
  });

  test('an account already as desired needs nothing', () => {
    expect(planAccount(input({ actual: actual() }))).toEqual({ actions: [], findings: [] });
  });

  test('a mover: changed attribute, removed mapped attribute, revoked group, new group', () => {
    const plan = planAccount(input({ desired: desired({ attributes: { Department: 'Finance' }, groups: ['g-all', 'g-fin'] }), actual: actual({ attributes: { Department: 'Engineering', JobTitle: 'Dev' } }) }));
    expect(plan.actions).toEqual([
      expect.objectContaining({ op: 'update', changes: [{ attribute: 'Department', from: 'Engineering', to: 'Finance' }, { attribute: 'JobTitle', from: 'Dev', to: null }] }),
      expect.objectContaining({ op: 'addMember', group: 'g-fin' }),
      expect.objectContaining({ op: 'removeMember', group: 'g-eng' }),
    ]);
  });

  test('memberships in groups idflow does not manage are never removed', () => {
    const plan = planAccount(input({ actual: actual({ groups: ['g-all', 'g-eng', 'hand-made-admins'] }) }));
    expect(plan.actions).toEqual([]);
  });

  test('create-only attributes are set on create and never overwritten', () => {
    const d = desired({ attributes: { Department: 'Engineering', CostCenter: 'CC-100' }, createOnlyAttributes: ['CostCenter'], managedAttributes: ['Department', 'CostCenter'] });
    expect(planAccount(input({ desired: d, actual: actual({ attributes: { Department: 'Engineering', CostCenter: 'CC-999' } }) })).actions).toEqual([]);
    expect(planAccount(input({ desired: d, actual: actual() })).actions).toEqual([expect.objectContaining({ op: 'update', changes: [{ attribute: 'CostCenter', from: null, to: 'CC-100' }] })]);
  });

  test('a leaver is disabled, or deleted when the policy says so', () => {
    expect(planAccount(input({ desired: null, absentReason: 'leaver event', actual: actual() })).actions).toEqual([expect.objectContaining({ op: 'disable', reason: 'leaver event; policy disables' })]);
    expect(planAccount(input({ desired: null, onAbsent: 'delete', actual: actual() })).actions.map((a) => a.op)).toEqual(['delete']);
    expect(planAccount(input({ desired: null, onAbsent: 'ignore', actual: actual() })).actions).toEqual([]);
  });

  test('an unowned account is reported, never changed', () => {
    const plan = planAccount(input({ actual: actual({ owned: false }) }));
    expect(plan.actions).toEqual([]);
    expect(plan.findings).toEqual([expect.objectContaining({ kind: 'unowned' })]);
  });

  test('with adoption allowed, an unmarked account of the same name is taken over through create; a marked one never is', () => {
    const unmarked = actual({ owned: false, externalId: null, employeeId: null, groups: [], attributes: {} });
    const plan = planAccount(input({ actual: unmarked, adoptUnmatched: true }));
    expect(plan.actions[0]).toMatchObject({ op: 'create', adopt: true, reason: 'in scope; adopting the unmatched account "ada.lovelace" (config unmatched: adopt)' });
    expect(plan.findings).toEqual([]);
    const marked = planAccount(input({ actual: actual({ owned: false, externalId: 'someone-else' }), adoptUnmatched: true }));
    expect(marked.actions).toEqual([]);
    expect(marked.findings[0]!.kind).toBe('unowned');
    expect(planAccount(input({ actual: unmarked })).findings[0]!.kind).toBe('unowned');
  });

  test("another person's account with the same name is a conflict, never overwritten", () => {
    const plan = planAccount(input({ actual: actual({ externalId: 'ext-other' }) }));
    expect(plan.actions).toEqual([]);
    expect(plan.findings[0]!.kind).toBe('conflict');
  });

  test("a leaver, a purge and an out-of-scope disable never reach an account marked for another identity", () => {
    for (const onAbsent of ['disable', 'delete'] as const) {
      const plan = planAccount(input({ desired: null, onAbsent, absentReason: 'leaver event', actual: actual({ externalId: 'ext-orla', userName: 'o-neil' }) }));
      expect(plan.actions).toEqual([]);
      expect(plan.findings[0]).toMatchObject({ kind: 'conflict' });
    }
    // Without the person's source id, no account can be shown to be theirs.
    expect(planAccount(input({ desired: null, externalId: null, actual: actual() })).actions).toEqual([]);
  });

  test('a changed name is a rename in place, before anything addresses the account by its new name', () => {
    const plan = planAccount(input({ desired: desired({ userName: 'ada.byron', groups: ['g-all', 'g-eng', 'g-fin'] }), actual: actual() }));
    expect(plan.actions.map((a) => [a.op, a.userName])).toEqual([['rename', 'ada.byron'], ['addMember', 'ada.byron']]);
    expect(plan.actions[0]).toMatchObject({ op: 'rename', from: 'ada.lovelace', accountId: 'AID1', externalId: 'ext-1', reason: 'the account\'s name "ada.lovelace" is not the derived name "ada.byron" (renamed in the source, or by hand in the target): renamed in place' });
    expect(plan.actions.some((a) => a.op === 'create')).toBe(false);
    // A case-only change is a rename too; the account holding the name is the person's own.
    const caseOnly = planAccount(input({ desired: desired({ userName: 'Ada.Lovelace' }), actual: actual(), nameHolder: actual() }));
    expect(caseOnly.actions.map((a) => a.op)).toEqual(['rename']);
  });

  test("a rename onto a name another account holds is refused; the account is kept in step under its old name", () => {
    const holder = actual({ id: 'AID2', userName: 'ada.byron', externalId: 'ext-2' });
    const plan = planAccount(input({ desired: desired({ userName: 'ada.byron', attributes: { Department: 'Finance' } }), actual: actual(), nameHolder: holder }));
    expect(plan.findings).toEqual([expect.objectContaining({ kind: 'conflict', detail: expect.stringContaining('cannot rename "ada.lovelace" to "ada.byron"') })]);
    expect(plan.actions.map((a) => [a.op, a.userName])).toEqual([['update', 'ada.lovelace']]);
  });

  test('more groups than the target allows writes nothing for that identity', () => {
    const groups = Array.from({ length: 11 }, (_, i) => `g${i}`);
    const plan = planAccount(input({ desired: desired({ groups }), managedGroups: groups, existingGroups: new Set(groups), maxGroupsPerUser: 10 }));
    expect(plan.actions).toEqual([]);
    expect(plan.findings[0]!.kind).toBe('tooManyGroups');
  });

  test('groups idflow does not manage count against the limit, so a plan never stops half-way', () => {
    const groups = Array.from({ length: 9 }, (_, i) => `g${i}`);
    const hand = ['hand-1', 'hand-2'];
    const plan = planAccount(input({ desired: desired({ groups }), actual: actual({ groups: hand }), managedGroups: groups, existingGroups: new Set(groups), maxGroupsPerUser: 10 }));
    expect(plan.actions).toEqual([]);
    expect(plan.findings[0]!.detail).toBe("9 mapped groups plus 2 groups idflow does not manage exceed the target's limit of 10 groups per user: nothing was written for this identity");
  });
});

describe('verification', () => {
  test('nothing left to do and the account is the person\'s: verified', () => {
    expect(verification(planAccount(input({ actual: actual() })))).toEqual({ verified: true, findings: [] });
  });

  test('nothing left to do but the account is not idflow\'s (a server dropped the marker), or another person\'s: not verified, and why', () => {
    const unowned = verification(planAccount(input({ actual: actual({ owned: false, externalId: null }) })));
    expect(unowned.verified).toBe(false);
    expect(unowned.findings).toEqual([expect.stringMatching(/^unowned: an account named "ada.lovelace" exists that idflow does not own/)]);
    const theirs = verification(planAccount(input({ actual: actual({ externalId: 'ext-2' }) })));
    expect(theirs).toMatchObject({ verified: false, findings: [expect.stringMatching(/^conflict: account "ada.lovelace" belongs to another identity/)] });
  });

  test('actions left: not verified', () => {
    expect(verification(planAccount(input({ actual: actual({ enabled: false }) }))).verified).toBe(false);
  });
});

describe('planAccount properties', () => {
  const attrs = fc.dictionary(fc.constantFrom('Department', 'JobTitle', 'CostCenter'), fc.string({ minLength: 1, maxLength: 5 }));
  const groups = fc.subarray([...MANAGED, 'unmanaged-1']);
  const desiredArb = fc.option(
    fc.record({ attributes: attrs, groups: fc.subarray(MANAGED), enabled: fc.boolean(), createOnly: fc.subarray(['CostCenter']) }).map(({ attributes, groups: g, enabled, createOnly }) =>
      desired({ attributes, groups: enabled ? g.sort() : [], enabled, createOnlyAttributes: createOnly, managedAttributes: ['Department', 'JobTitle', 'CostCenter'] }),
    ),
  );
  const actualArb = fc.option(fc.record({ attributes: attrs, groups, enabled: fc.boolean(), owned: fc.boolean() }).map((a) => actual({ ...a, groups: a.groups.sort() })));
  const onAbsent = fc.constantFrom('disable' as const, 'delete' as const, 'ignore' as const);

  test('applying a plan and planning again gives an empty plan', () => {
    fc.assert(
      fc.property(desiredArb, actualArb, onAbsent, (d, a, policy) => {
        const first = planAccount(input({ desired: d, actual: a, onAbsent: policy }));
        const after = apply(a, first.actions);
        const second = planAccount(input({ desired: d, actual: after, onAbsent: policy }));
        expect(second.actions).toEqual([]);
      }),
    );
  });

  test('a plan never touches an unowned account', () => {
    fc.assert(
      fc.property(desiredArb, actualArb, onAbsent, (d, a, policy) => {
        fc.pre(a !== null && !a.owned);
        expect(planAccount(input({ desired: d, actual: a, onAbsent: policy })).actions).toEqual([]);
      }),
    );
  });

  test('whatever the names and ids: one account per person, and never a write to another identity\'s account', () => {
    // A small pool of accounts whose names and markers collide in every way the generators find.
    const names = fc.constantFrom('ada', 'Ada', 'o-neil', 'o\'neil', 'orla', 'owen');
    const ids = fc.constantFrom('ext-1', 'ext-2', 'ext-3', null);
    const account = fc.record({ userName: names, externalId: ids, owned: fc.boolean(), enabled: fc.boolean() });
    fc.assert(
      fc.property(fc.array(account, { maxLength: 4 }), names, fc.constantFrom('ext-1', 'ext-2'), fc.boolean(), onAbsent, (pool, wantName, me, present, policy) => {
        const accounts = pool.map((p, i) => actual({ ...p, id: `A${i}`, groups: [] }));
        const byMarker = accounts.find((a) => a.owned && a.externalId === me) ?? null;
        const want = present ? desired({ userName: wantName, externalId: me }) : null;
        const byName = want ? (accounts.find((a) => a.userName.toLowerCase() === want.userName.toLowerCase()) ?? null) : null;
        const { actual: found, nameHolder } = matchAccount(me, { byMarker, byName }, ['externalId', 'userName']);
        const plan = planAccount(input({ externalId: me, desired: want, actual: found, nameHolder, onAbsent: policy }));
        for (const a of plan.actions) {
          if (a.op === 'createGroup') continue;
          expect(a.externalId).toBe(me);
          if ('accountId' in a) expect(accounts.find((x) => x.id === a.accountId)).toMatchObject({ owned: true, externalId: me });
        }
        // The person's account exists: it is renamed or updated, never joined by a second one.
        if (byMarker) expect(plan.actions.some((a) => a.op === 'create')).toBe(false);
      }),
    );
  });

  test('planning is deterministic', () => {
    fc.assert(
      fc.property(desiredArb, actualArb, (d, a) => {
        expect(planAccount(input({ desired: d, actual: a }))).toEqual(planAccount(input({ desired: d, actual: a })));
      }),
    );
  });
});
