/** The generated organisation (deterministic, awkward on purpose) and seed files. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Group, User } from '@microsoft/microsoft-graph-types';
import { generateOrganisation, seedFromJson } from '../../simulator';
import { startHarness } from './harness';

describe('generated organisation', () => {
  const org = generateOrganisation({ users: 300, seed: 42, groups: 12 });
  const upn = (i: number) => org.users[i]!.props.userPrincipalName;

  test('is identical for the same seed, and user #i keeps its id and name whatever the size', () => {
    expect(generateOrganisation({ users: 300, seed: 42, groups: 12 })).toEqual(org);
    const big = generateOrganisation({ users: 2000, seed: 42, groups: 40 });
    expect(big.users.slice(0, 300).map((u) => [u.id, u.props.displayName])).toEqual(org.users.map((u) => [u.id, u.props.displayName]));
    expect(big.groups.slice(0, 10).map((g) => g.id)).toEqual(org.groups.slice(0, 10).map((g) => g.id));
    const other = generateOrganisation({ users: 300, seed: 7, groups: 12 });
    expect(other.users[0]!.id).not.toBe(org.users[0]!.id);
    expect(other.users[0]!.props.displayName).toBe('Ada Lovelace');
  });

  test('the first three users are fixed', () => {
    const [ada, zoe, jose] = org.users;
    expect(ada!.props).toMatchObject({ employeeId: 'E1001', displayName: 'Ada Lovelace', department: 'Engineering', userPrincipalName: 'ada.lovelace@contoso.example' });
    expect(zoe!.props).toMatchObject({ employeeId: 'E1002', displayName: "Zoë O'Brien-Łukasiewicz", department: 'Finance', userPrincipalName: 'zoe.obrien-lukasiewicz@contoso.example' });
    expect(jose!.props).toMatchObject({ employeeId: 'E1003', displayName: 'José Álvarez', department: 'Sales', userPrincipalName: 'jose.alvarez@contoso.example' });
    const names = (id: string) => org.groups.filter((g) => g.members.includes(id)).map((g) => g.props.displayName);
    expect(names(ada!.id)).toEqual(expect.arrayContaining(['Engineering', 'Platform Team', 'Cloud Admins']));
    for (const u of org.users) expect(u.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  test('is awkward on purpose: near-duplicates, long names, diacritics, disabled accounts', () => {
    expect(upn(10)).toBe('john.smith@contoso.example');
    expect(upn(11)).toBe('john.smith2@contoso.example');
    expect(org.users[10]!.props.displayName).toBe(org.users[11]!.props.displayName);
    const long = org.users.filter((u) => String(u.props.displayName).length > 64);
    expect(long.length).toBeGreaterThan(0);
    for (const u of org.users) expect(String(u.props.mailNickname).length).toBeLessThanOrEqual(64);
    expect(org.users.some((u) => /Ångström/.test(String(u.props.surname)))).toBe(true);
    const disabled = org.users.filter((u) => u.props.accountEnabled === false).length;
    expect(disabled / org.users.length).toBeGreaterThan(0.01);
    expect(disabled / org.users.length).toBeLessThan(0.07);
    expect(new Set(org.users.map((u) => String(u.props.userPrincipalName).toLowerCase())).size).toBe(300);
    expect(org.users.every((u) => /^E\d+$/.test(String(u.props.employeeId)))).toBe(true);
  });

  test('groups: exact names, All Staff nests the departments, Platform Team nests inside Engineering; manager hierarchy', () => {
    const names = org.groups.map((g) => g.props.displayName);
    expect(names.slice(0, 10)).toEqual(['All Staff', 'Engineering', 'Finance', 'Sales', 'People', 'Support', 'Marketing', 'Platform Team', 'Cloud Admins', 'Contractors']);
    expect(org.groups).toHaveLength(12);
    const g = (n: string) => org.groups.find((x) => x.props.displayName === n)!;
    for (const d of ['Engineering', 'Finance', 'Sales', 'People', 'Support', 'Marketing']) expect(g('All Staff').members).toContain(g(d).id);
    expect(g('Engineering').members).toContain(g('Platform Team').id);
    const byId = new Map(org.users.map((u) => [u.id, u]));
    const ceo = org.users.filter((u) => u.managerId === null);
    expect(ceo.map((u) => u.props.jobTitle)).toEqual(['Chief Executive Officer']);
    // everyone reaches the CEO without cycles
    for (const u of org.users) {
      let cur = u;
      for (let i = 0; i < 10 && cur.managerId; i++) cur = byId.get(cur.managerId)!;
      expect(cur.managerId).toBeNull();
    }
    expect(generateOrganisation({ users: 300, seed: 42, groups: 500 }).groups).toHaveLength(500);
  });
});

describe('seed files', () => {
  const doc = {
    users: [
      { employeeId: 'E1', displayName: 'Ada Lovelace', givenName: 'Ada', surname: 'Lovelace', userPrincipalName: 'ada@example.org', department: 'Engineering' },
      { employeeId: 'E2', displayName: 'Charles Babbage', givenName: 'Charles', surname: 'Babbage', userPrincipalName: 'charles@example.org', managerEmployeeId: 'E1', accountEnabled: false },
      { id: '11111111-2222-4333-8444-555555555555', displayName: 'Nobody', userPrincipalName: 'nobody@example.org', jobTitle: 'Ghost' },
    ],
    groups: [
      { displayName: 'Engineers', members: ['E1', 'group:Admins'] },
      { displayName: 'Admins', description: 'Admins', members: ['charles@example.org', '11111111-2222-4333-8444-555555555555'] },
    ],
  };

  test('a seed file drives the simulator (users, managers, nested groups)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'idflow-seed-'));
    const file = path.join(dir, 'seed.json');
    writeFileSync(file, JSON.stringify(doc));
    const h = await startHarness({ seedFile: file });
    try {
      const users = (await h.graph.api('/users').select('id,employeeId,accountEnabled,mail,userPrincipalName').get()).value as User[];
      expect(users.map((u) => u.employeeId)).toEqual(['E1', 'E2', null]);
      expect(users[1]).toMatchObject({ accountEnabled: false, mail: 'charles@example.org' });
      expect(users[2]!.id).toBe('11111111-2222-4333-8444-555555555555');
      const mgr = (await h.graph.api(`/users/${users[1]!.id}/manager`).select('employeeId').get()) as User;
      expect(mgr.employeeId).toBe('E1');
      const groups = (await h.graph.api(`/users/${users[2]!.id}/transitiveMemberOf`).select('displayName').get()).value as Group[];
      expect(groups.map((x) => x.displayName).sort()).toEqual(['Admins', 'Engineers']);
    } finally {
      await h.close();
    }
  });

  test('seed file errors name the problem', () => {
    expect(() => seedFromJson({ users: [{ displayName: 'x' }] })).toThrow(/userPrincipalName is required/);
    expect(() => seedFromJson({ users: doc.users, groups: [{ displayName: 'G', members: ['E404'] }] })).toThrow(/member "E404" not found/);
    expect(() => seedFromJson({ users: [doc.users[0], { ...doc.users[1], managerEmployeeId: 'E9' }] })).toThrow(/manager employeeId E9/);
    expect(() => seedFromJson([])).toThrow(/top level/);
  });
});
