/* eslint-disable @typescript-eslint/no-explicit-any -- delta pages are checked as parsed JSON */
/** Delta queries: rounds, @removed, restore, members@delta, split groups, latest, 410 — driven through the admin API. */
import { GraphError } from '@microsoft/microsoft-graph-client';
import type { Group, User } from '@microsoft/microsoft-graph-types';
import { Harness, startHarness } from './harness';

let h: Harness;
const MEMBERS_PER_PAGE = 10;

beforeAll(async () => {
  h = await startHarness({ users: 120, deltaMembersPerPage: MEMBERS_PER_PAGE, deltaPageSize: 25 });
});
afterAll(async () => {
  await h.close();
});
beforeEach(async () => {
  expect((await h.raw('POST', '/_admin/reset')).status).toBe(200);
});

interface Round {
  pages: any[][];
  items: any[];
  deltaLink: string;
}

/** Follow nextLinks with the real Graph client until a deltaLink. */
async function round(url: string, headers: Record<string, string> = {}): Promise<Round> {
  const pages: any[][] = [];
  let next: string = url;
  for (;;) {
    const res: any = await h.graph.api(next).headers(headers).get();
    pages.push(res.value);
    if (res['@odata.nextLink']) {
      expect(res['@odata.deltaLink']).toBeUndefined();
      next = res['@odata.nextLink'];
      continue;
    }
    expect(typeof res['@odata.deltaLink']).toBe('string');
    expect(new URL(res['@odata.deltaLink']).searchParams.get('$deltatoken')).toBeTruthy();
    return { pages, items: pages.flat(), deltaLink: res['@odata.deltaLink'] };
  }
}

const admin = async (method: string, path: string, body?: unknown) => {
  const r = await h.raw(method, `/_admin${path}`, body === undefined ? {} : { body });
  if (r.status >= 300) throw new Error(`${method} ${path} -> ${r.status} ${r.text}`);
  return r.json;
};

const userId = (employeeId: string) => h.sim.directory.userByEmployeeId(employeeId)!.id;
const groupId = (name: string) => h.sim.directory.groupByName(name)!.id;

describe('users delta', () => {
  test('initial round returns every user, paged, ending in a deltaLink; $select is kept in the token', async () => {
    const r = await round('/users/delta?$select=id,displayName,employeeId,jobTitle,accountEnabled');
    expect(r.items).toHaveLength(120);
    expect(r.pages.length).toBe(Math.ceil(120 / 25));
    expect(new Set(r.items.map((u) => u.id)).size).toBe(120);
    const ada = r.items.find((u) => u.employeeId === 'E1001') as User;
    expect(Object.keys(ada).sort()).toEqual(['accountEnabled', 'displayName', 'employeeId', 'id', 'jobTitle']);
    // nothing changed -> empty round
    const again = await round(r.deltaLink);
    expect(again.items).toEqual([]);
  });

  test('create, update, soft delete, restore, hard delete appear exactly like Graph reports them', async () => {
    const r1 = await round('/users/delta?$select=id,displayName,jobTitle,department');
    const created = await admin('POST', '/users', { displayName: 'New Hire', userPrincipalName: 'new.hire@contoso.example', jobTitle: 'Intern', department: 'Engineering', employeeId: 'E9001' });
    await admin('PATCH', `/users/${userId('E1002')}`, { jobTitle: 'Controller' });
    await admin('PATCH', `/users/${userId('E1003')}`, { city: 'Sevilla' }); // not selected -> not tracked
    const ceoId = userId('E1004');
    await admin('DELETE', `/users/${ceoId}`);

    const r2 = await round(r1.deltaLink);
    const byId = new Map(r2.items.map((u) => [u.id, u]));
    expect(byId.get(created.id)).toMatchObject({ displayName: 'New Hire', jobTitle: 'Intern', department: 'Engineering' });
    expect(byId.get(created.id)['@removed']).toBeUndefined();
    expect(byId.get(userId('E1002'))).toMatchObject({ jobTitle: 'Controller', department: 'Finance' });
    expect(byId.has(userId('E1003'))).toBe(false);
    expect(byId.get(ceoId)).toEqual({ id: ceoId, '@removed': { reason: 'changed' } });
    expect(r2.items).toHaveLength(3);
    // soft-deleted users are gone from /users
    expect((await h.raw('GET', `/v1.0/users/${ceoId}`)).status).toBe(404);

    await admin('POST', `/users/${ceoId}/restore`);
    await admin('DELETE', `/users/${created.id}?hard=true`);
    const r3 = await round(r2.deltaLink);
    const byId3 = new Map(r3.items.map((u) => [u.id, u]));
    expect(byId3.get(ceoId)).toMatchObject({ id: ceoId, displayName: 'Grace Hopper' });
    expect(byId3.get(ceoId)['@removed']).toBeUndefined();
    expect(byId3.get(created.id)).toEqual({ id: created.id, '@removed': { reason: 'deleted' } });

    // soft delete then hard delete within one round -> deleted
    const zoe = userId('E1002');
    await admin('DELETE', `/users/${zoe}`);
    await admin('DELETE', `/users/${zoe}?hard=true`);
    const r4 = await round(r3.deltaLink);
    expect(r4.items).toEqual([{ id: zoe, '@removed': { reason: 'deleted' } }]);
  });

  test('soft-deleted users appear as @removed (changed) in an initial round', async () => {
    await admin('DELETE', `/users/${userId('E1005')}`);
    const r = await round('/users/delta?$select=id');
    expect(r.items).toHaveLength(120);
    expect(r.items.filter((u) => u['@removed'])).toHaveLength(1);
  });

  test('Prefer: return=minimal returns only changed properties; cleared properties come back as null', async () => {
    const r1 = await round('/users/delta?$select=id,displayName,jobTitle,department,mobilePhone');
    await admin('PATCH', `/users/${userId('E1001')}`, { jobTitle: 'Distinguished Engineer', mobilePhone: null });
    await admin('PATCH', `/users/${userId('E1001')}`, { mobilePhone: '+44 7700 900123' });
    await admin('PATCH', `/users/${userId('E1003')}`, { department: null });
    const r2 = await round(r1.deltaLink, { Prefer: 'return=minimal' });
    const byId = new Map(r2.items.map((u) => [u.id, u]));
    expect(byId.get(userId('E1001'))).toEqual({ id: userId('E1001'), jobTitle: 'Distinguished Engineer', mobilePhone: '+44 7700 900123' });
    expect(byId.get(userId('E1003'))).toEqual({ id: userId('E1003'), department: null });
  });

  test('$deltatoken=latest gives a deltaLink only; later changes show up', async () => {
    const res: any = await h.graph.api('/users/delta?$deltatoken=latest&$select=id,displayName').get();
    expect(res.value).toEqual([]);
    await admin('PATCH', `/users/${userId('E1001')}`, { displayName: 'Ada King' });
    const r = await round(res['@odata.deltaLink']);
    expect(r.items).toEqual([{ id: userId('E1001'), displayName: 'Ada King' }]);
  });

  test('$filter=id eq ... or ...; unsupported options answer 400', async () => {
    const a = userId('E1001');
    const b = userId('E1002');
    const r = await round(`/users/delta?$filter=id eq '${a}' or id eq '${b}'&$select=displayName`);
    expect(r.items.map((u) => u.id).sort()).toEqual([a, b].sort());
    const top = await h.raw('GET', '/v1.0/users/delta?$top=5');
    expect([top.status, top.json.error.code]).toEqual([400, 'Request_UnsupportedQuery']);
    const other = await h.raw('GET', "/v1.0/users/delta?$filter=department eq 'Sales'");
    expect(other.status).toBe(400);
  });
});

describe('groups delta', () => {
  test('initial round: members@delta with @odata.type; large groups split across pages and merge to the full membership', async () => {
    const r = await round('/groups/delta?$select=displayName,members');
    const merged = new Map<string, { name?: string; members: Set<string>; pages: Set<number> }>();
    const types = new Set<string>();
    r.pages.forEach((page, pi) => {
      for (const g of page as (Group & { 'members@delta': { id: string; '@odata.type': string }[] })[]) {
        const e = merged.get(g.id!) ?? { members: new Set<string>(), pages: new Set<number>() };
        e.name = g.displayName ?? e.name;
        for (const m of g['members@delta']) {
          // Groups hold service principals, devices and org contacts too, and delta names each by type.
          expect(['#microsoft.graph.user', '#microsoft.graph.group', '#microsoft.graph.servicePrincipal', '#microsoft.graph.device', '#microsoft.graph.orgContact']).toContain(m['@odata.type']);
          types.add(m['@odata.type']);
          e.members.add(m.id);
        }
        expect(g['members@delta'].length).toBeLessThanOrEqual(MEMBERS_PER_PAGE);
        e.pages.add(pi);
        merged.set(g.id!, e);
      }
    });
    expect(merged.size).toBe(h.sim.directory.orderedGroups().length);
    expect(types).toEqual(new Set(['#microsoft.graph.user', '#microsoft.graph.group', '#microsoft.graph.servicePrincipal', '#microsoft.graph.device', '#microsoft.graph.orgContact']));
    const eng = merged.get(groupId('Engineering'))!;
    const expected = h.sim.directory.directMembers(groupId('Engineering')).map((m) => m.id);
    expect(expected.length).toBeGreaterThan(MEMBERS_PER_PAGE * 2);
    expect([...eng.members].sort()).toEqual(expected.sort());
    // the same group appears again on later pages (not twice on one page)
    expect(eng.pages.size).toBe(Math.ceil(expected.length / MEMBERS_PER_PAGE));
    const allStaff = merged.get(groupId('All Staff'))!;
    expect(allStaff.members.has(groupId('Engineering'))).toBe(true);
  });

  test('membership changes: added members, removed members (@removed deleted), deleted users leave groups', async () => {
    const r1 = await round('/groups/delta?$select=displayName,members');
    const newbie = await admin('POST', '/users', { displayName: 'Cloud Newbie', userPrincipalName: 'cloud.newbie@contoso.example' });
    await admin('POST', `/groups/${groupId('Cloud Admins')}/members`, { id: newbie.id });
    await admin('DELETE', `/groups/${groupId('Platform Team')}/members/${userId('E1001')}`);
    await admin('DELETE', `/users/${userId('E1003')}`); // José: a Sales member
    // add + remove inside one round is no net change
    await admin('POST', `/groups/${groupId('Finance')}/members`, { id: newbie.id });
    await admin('DELETE', `/groups/${groupId('Finance')}/members/${newbie.id}`);
    await admin('PATCH', `/groups/${groupId('Contractors')}`, { description: 'External staff' }); // not selected

    const r2 = await round(r1.deltaLink);
    const byId = new Map(r2.items.map((g) => [g.id, g]));
    expect(byId.get(groupId('Cloud Admins'))).toMatchObject({ displayName: 'Cloud Admins', 'members@delta': [{ '@odata.type': '#microsoft.graph.user', id: newbie.id }] });
    expect(byId.get(groupId('Platform Team'))['members@delta']).toEqual([{ '@odata.type': '#microsoft.graph.user', id: userId('E1001'), '@removed': { reason: 'deleted' } }]);
    const sales = byId.get(groupId('Sales'));
    expect(sales['members@delta']).toEqual([{ '@odata.type': '#microsoft.graph.user', id: h.sim.directory.getUser('jose.alvarez@contoso.example', { includeDeleted: true })!.id, '@removed': { reason: 'deleted' } }]);
    expect(byId.has(groupId('Finance'))).toBe(false);
    expect(byId.has(groupId('Contractors'))).toBe(false);

    // restoring José brings the membership back
    await admin('POST', `/users/${h.sim.directory.getUser('jose.alvarez@contoso.example', { includeDeleted: true })!.id}/restore`);
    const r3 = await round(r2.deltaLink);
    expect(r3.items.find((g) => g.id === groupId('Sales'))['members@delta'][0]['@removed']).toBeUndefined();
  });

  test('a big membership change in one round is split over pages too; deleted groups are @removed', async () => {
    const r1 = await round('/groups/delta?$select=displayName,members');
    const big = await admin('POST', '/groups', { displayName: 'Everyone Engaged' });
    const ids = h.sim.directory.liveUsers().slice(0, 35).map((u) => u.id);
    for (const id of ids) await admin('POST', `/groups/${big.id}/members`, { id });
    const aurora = groupId('Project Aurora');
    await admin('DELETE', `/groups/${aurora}`);
    const r2 = await round(r1.deltaLink);
    const entries = r2.pages.map((p) => p.filter((g: any) => g.id === big.id)).filter((p) => p.length > 0);
    expect(entries.length).toBe(Math.ceil(35 / MEMBERS_PER_PAGE));
    expect(entries.flat().flatMap((g: any) => g['members@delta'].map((m: any) => m.id)).sort()).toEqual([...ids].sort());
    expect(r2.items.find((g) => g.id === aurora)).toEqual({ id: aurora, '@removed': { reason: 'deleted' } });
  });
});

describe('token expiry', () => {
  test('a token older than its 7 days -> 400 syncStateNotFound, as Microsoft documents; a fresh round works', async () => {
    const r1 = await round('/users/delta?$select=id,displayName');
    await admin('POST', '/delta/age', { seconds: 7 * 86400 + 60 });
    const raw = await h.raw('GET', r1.deltaLink);
    expect(raw.status).toBe(400);
    expect(raw.json.error.code).toBe('syncStateNotFound');
    const err = await h.graph.api(r1.deltaLink).get().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect([(err as GraphError).statusCode, (err as GraphError).code]).toEqual([400, 'syncStateNotFound']);
    // Tokens issued now are fresh on the same clock.
    const r2 = await round('/users/delta?$select=id,displayName');
    expect((await h.raw('GET', r2.deltaLink)).status).toBe(200);
  });

  test('POST /_admin/delta/expire -> 410 Gone with a Location for a full resync', async () => {
    const r1 = await round('/users/delta?$select=id,displayName');
    await admin('POST', '/delta/expire');
    const raw = await h.raw('GET', r1.deltaLink);
    expect(raw.status).toBe(410);
    expect(raw.json.error.code).toBe('resyncRequired');
    const loc = new URL(raw.headers.location as string);
    expect(loc.pathname).toBe('/v1.0/users/delta');
    expect(loc.searchParams.get('$deltatoken')).toBe('');
    expect(loc.searchParams.get('$select')).toBe('id,displayName');
    const err = await h.graph
      .api(r1.deltaLink)
      .get()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GraphError);
    expect((err as GraphError).statusCode).toBe(410);
    // following Location starts a new full round
    const again = await round(loc.toString());
    expect(again.items).toHaveLength(120);
  });

  test('tokens from before a reset, and tokens older than the retained change log, answer 410', async () => {
    const r1 = await round('/users/delta?$select=id');
    await admin('POST', '/reset');
    expect((await h.raw('GET', r1.deltaLink)).status).toBe(410);
  });

  test('skip tokens (nextLinks) expire too', async () => {
    const first: any = await h.graph.api('/users/delta?$select=id').get();
    await admin('POST', '/delta/expire');
    expect((await h.raw('GET', first['@odata.nextLink'])).status).toBe(410);
  });
});

describe('change-log retention', () => {
  test('a token pointing before the retained log answers 410', async () => {
    const small = await startHarness({ users: 20, changeLogRetention: 5 });
    try {
      const first: any = await small.graph.api('/users/delta?$select=id').get();
      const dl = first['@odata.deltaLink'];
      for (let i = 0; i < 20; i++) small.sim.directory.updateUser(small.sim.directory.userByEmployeeId('E1001')!.id, { jobTitle: `T${i}` });
      const r = await small.raw('GET', dl);
      expect(r.status).toBe(410);
    } finally {
      await small.close();
    }
  });
});
