/** Graph v1.0 reads: shapes, $select, $top/paging, $filter + advanced-query gate, memberships — via the real Graph client. */
import { GraphError, PageIterator } from '@microsoft/microsoft-graph-client';
import type { DirectoryObject, Group, User } from '@microsoft/microsoft-graph-types';
import { GROUP_PROPS, USER_DEFAULT_SELECT, USER_PROPS } from '../../simulator/schema';
import { collectPages, Harness, startHarness } from './harness';

let h: Harness;
let ada: User;
const byName = (name: string) => h.sim.directory.groupByName(name)!.id;

beforeAll(async () => {
  h = await startHarness({ users: 300 });
  ada = (await h.graph.api('/users').filter("employeeId eq 'E1001'").select('id,displayName,employeeId').get()).value[0] as User;
});
afterAll(async () => {
  await h.close();
});

const EVENTUAL = { ConsistencyLevel: 'eventual' };

async function graphError(p: Promise<unknown>): Promise<GraphError> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  if (!(e instanceof GraphError)) throw new Error(`expected a GraphError, got ${String(e)}`);
  return e;
}

describe('shapes and $select', () => {
  test('a list without $select returns exactly the default property set (typed as User)', async () => {
    const res = await h.graph.api('/users').top(5).get();
    expect(res['@odata.context']).toBe(`${h.sim.url}/v1.0/$metadata#users`);
    const users = res.value as User[];
    expect(users).toHaveLength(5);
    const first: User = users[0]!;
    expect(Object.keys(first).sort()).toEqual([...USER_DEFAULT_SELECT].sort());
    const expected: User = { displayName: 'Ada Lovelace', givenName: 'Ada', surname: 'Lovelace', userPrincipalName: 'ada.lovelace@contoso.example', mail: 'ada.lovelace@contoso.example' };
    expect(first).toMatchObject(expected);
    expect(first.mobilePhone).toBeNull();
    expect(Array.isArray(first.businessPhones)).toBe(true);
  });

  test('$select returns the chosen properties (and id); unknown -> 400; single-object-only on a list -> 501', async () => {
    const res = await h.graph.api('/users').select(['employeeId', 'accountEnabled', 'department', 'companyName', 'employeeType', 'createdDateTime']).top(3).get();
    expect(res['@odata.context']).toContain('#users(employeeId,accountEnabled,department,companyName,employeeType,createdDateTime)');
    const u = res.value[1] as User;
    const expected: User = { id: expect.any(String), employeeId: 'E1002', accountEnabled: true, department: 'Finance', companyName: 'Contoso Ltd.', employeeType: 'Employee' };
    expect(u).toMatchObject(expected);
    expect(Object.keys(u).sort()).toEqual(['accountEnabled', 'companyName', 'createdDateTime', 'department', 'employeeId', 'employeeType', 'id']);

    const bad = await graphError(h.graph.api('/users').select('id,favouriteColour').get());
    expect([bad.statusCode, bad.code, bad.message]).toEqual([400, 'Request_BadRequest', "Could not find a property named 'favouriteColour' on type 'microsoft.graph.user'."]);
    const single = await graphError(h.graph.api('/users').select('skills').get());
    expect(single.statusCode).toBe(501);
    const one = await h.graph.api(`/users/${ada.id}`).select('skills,displayName').get();
    expect(one.skills).toEqual([]);
  });

  test('every property the simulator models exists on the microsoft-graph-types User/Group', () => {
    // tsc checks these literals against the SDK types: a key that is not a User/Group property fails to compile.
    const userKeys: { [K in keyof User]?: true } = {
      id: true, aboutMe: true, accountEnabled: true, ageGroup: true, assignedLicenses: true, assignedPlans: true, birthday: true, businessPhones: true,
      city: true, companyName: true, consentProvidedForMinor: true, country: true, createdDateTime: true, creationType: true, deletedDateTime: true,
      department: true, displayName: true, employeeHireDate: true, employeeId: true, employeeLeaveDateTime: true, employeeOrgData: true,
      employeeType: true, externalUserState: true, externalUserStateChangeDateTime: true, faxNumber: true, givenName: true, hireDate: true,
      identities: true, imAddresses: true, interests: true, isResourceAccount: true, jobTitle: true, lastPasswordChangeDateTime: true,
      legalAgeGroupClassification: true, licenseAssignmentStates: true, mail: true, mailboxSettings: true, mailNickname: true, mobilePhone: true,
      mySite: true, officeLocation: true, onPremisesDistinguishedName: true, onPremisesDomainName: true, onPremisesExtensionAttributes: true,
      onPremisesImmutableId: true, onPremisesLastSyncDateTime: true, onPremisesProvisioningErrors: true, onPremisesSamAccountName: true,
      onPremisesSecurityIdentifier: true, onPremisesSyncEnabled: true, onPremisesUserPrincipalName: true, otherMails: true, passwordPolicies: true,
      passwordProfile: true, pastProjects: true, postalCode: true, preferredDataLocation: true, preferredLanguage: true, preferredName: true,
      provisionedPlans: true, proxyAddresses: true, responsibilities: true, schools: true, securityIdentifier: true, showInAddressList: true,
      signInSessionsValidFromDateTime: true, skills: true, state: true, streetAddress: true, surname: true, usageLocation: true,
      userPrincipalName: true, userType: true,
    };
    const groupKeys: { [K in keyof Group]?: true } = {
      id: true, assignedLabels: true, assignedLicenses: true, classification: true, createdDateTime: true, deletedDateTime: true,
      description: true, displayName: true, expirationDateTime: true, groupTypes: true, isAssignableToRole: true, mail: true, mailEnabled: true,
      mailNickname: true, membershipRule: true, membershipRuleProcessingState: true, onPremisesDomainName: true, onPremisesLastSyncDateTime: true,
      onPremisesNetBiosName: true, onPremisesProvisioningErrors: true, onPremisesSamAccountName: true, onPremisesSecurityIdentifier: true,
      onPremisesSyncEnabled: true, preferredDataLocation: true, preferredLanguage: true, proxyAddresses: true, renewedDateTime: true,
      securityEnabled: true, securityIdentifier: true, serviceProvisioningErrors: true, theme: true, visibility: true,
      allowExternalSenders: true, autoSubscribeNewMembers: true, hideFromAddressLists: true, hideFromOutlookClients: true,
      isSubscribedByMail: true, unseenCount: true,
    };
    for (const p of USER_PROPS.values()) expect([p.name, p.name in userKeys]).toEqual([p.name, true]);
    for (const p of GROUP_PROPS.values()) expect([p.name, p.name in groupKeys]).toEqual([p.name, true]);
  });

  test('a user by id and by userPrincipalName (case-insensitive); 404 in Graph format', async () => {
    const byId = (await h.graph.api(`/users/${ada.id}`).get()) as User;
    expect(byId.displayName).toBe('Ada Lovelace');
    const byUpn = (await h.graph.api('/users/ADA.Lovelace@contoso.example').select('id').get()) as User;
    expect(byUpn.id).toBe(ada.id);
    const zoe = (await h.graph.api(`/users/${encodeURIComponent("zoe.obrien-lukasiewicz@contoso.example")}`).select('displayName,department').get()) as User;
    expect(zoe).toMatchObject({ displayName: "Zoë O'Brien-Łukasiewicz", department: 'Finance' });
    const missing = await graphError(h.graph.api('/users/nobody@contoso.example').get());
    expect([missing.statusCode, missing.code]).toEqual([404, 'Request_ResourceNotFound']);
  });
});

describe('replication lag', () => {
  test("a user just created or changed is missed by GET and $filter for the delay, as Graph's reads may lag; delta has them at once", async () => {
    const base = await h.raw('GET', '/v1.0/users/delta?$select=employeeId&$deltatoken=latest');
    const deltaLink = base.json['@odata.deltaLink'] as string;
    await h.raw('POST', '/_admin/replication', { body: { delayMs: 60_000 } });
    try {
      const created = h.sim.directory.createUser({ displayName: 'Lagging Lee', userPrincipalName: 'lagging.lee@contoso.example', employeeId: 'LAG-1' });
      expect((await h.raw('GET', `/v1.0/users/${created.id}`)).status).toBe(404);
      const filtered = await h.raw('GET', `/v1.0/users?$filter=${encodeURIComponent("employeeId eq 'LAG-1'")}&$select=id`);
      expect(filtered.json.value).toEqual([]);
      const delta = await h.raw('GET', deltaLink);
      expect(delta.json.value.map((u: { id: string }) => u.id)).toContain(created.id);
      h.sim.directory.ageDeltaTokens(61); // the directory's clock moves on: the lag is over
      expect((await h.raw('GET', `/v1.0/users/${created.id}`)).status).toBe(200);
      h.sim.directory.deleteUser(created.id, { hard: true });
    } finally {
      h.sim.directory.replicationDelayMs = 0;
    }
  });
});

describe('$top and paging', () => {
  test('$top must be 1..999', async () => {
    for (const top of [0, 1000]) {
      const e = await graphError(h.graph.api('/users').top(top).get());
      expect([e.statusCode, e.message]).toEqual([400, `Invalid page size specified: '${top}'. Must be between 1 and 999 inclusive.`]);
    }
    expect((await h.graph.api('/users').top(999).select('id').get()).value).toHaveLength(300);
  });

  test('default page size 100 with an absolute https nextLink carrying an opaque $skiptoken', async () => {
    const res = await h.graph.api('/users').select('id').get();
    expect(res.value).toHaveLength(100);
    const next = new URL(res['@odata.nextLink']);
    expect(next.origin).toBe(h.sim.url);
    expect(next.pathname).toBe('/v1.0/users');
    expect(next.searchParams.get('$skiptoken')).toMatch(/^[A-Za-z0-9_.-]+$/);
    expect(next.searchParams.get('$skiptoken')).not.toMatch(/^\d+$/);
  });

  test('PageIterator visits every user once; $skip is refused', async () => {
    const ids = new Set<string>();
    const first = await h.graph.api('/users').select('id,employeeId').top(40).get();
    const it = new PageIterator(h.graph, first, (u: User) => {
      ids.add(u.id!);
      return true;
    });
    await it.iterate();
    expect(ids.size).toBe(300);
    const skip = await graphError(h.graph.api('/users').skip(10).get());
    expect([skip.statusCode, skip.message]).toEqual([400, "'$skip' is not supported by the service."]);
  });

  test('a tampered skiptoken -> 400', async () => {
    const res = await h.raw('GET', '/v1.0/users?$skiptoken=eyJrIjoibGlzdCJ9.AAAAAAAAAAAAAAAA');
    expect(res.status).toBe(400);
  });
});

describe('$filter', () => {
  test('eq, startswith, in, and/or/not-free combinations, quote escaping, booleans', async () => {
    const eq = (await h.graph.api('/users').filter("employeeId eq 'E1003'").select('displayName').get()).value as User[];
    expect(eq.map((u) => u.displayName)).toEqual(['José Álvarez']);
    const sw = (await h.graph.api('/users').filter("startswith(displayName,'zoë o''b')").select('displayName').get()).value as User[];
    expect(sw.map((u) => u.displayName)).toEqual(["Zoë O'Brien-Łukasiewicz"]);
    const esc = (await h.graph.api('/users').filter("surname eq 'O''Brien-Łukasiewicz'").select('employeeId').get()).value as User[];
    expect(esc.map((u) => u.employeeId)).toEqual(['E1002']);
    const inn = (await h.graph.api('/users').filter("employeeId in ('E1001','E1002','E1003','E9999')").select('employeeId').get()).value as User[];
    expect(inn.map((u) => u.employeeId)).toEqual(['E1001', 'E1002', 'E1003']);
    const combo = (await h.graph
      .api('/users')
      .filter("(department eq 'Engineering' or department eq 'Finance') and startswith(userPrincipalName,'ada')")
      .select('employeeId')
      .get()).value as User[];
    expect(combo.map((u) => u.employeeId)).toEqual(['E1001']);
    const disabled = (await h.graph.api('/users').filter('accountEnabled eq false').select('accountEnabled').top(999).get()).value as User[];
    expect(disabled.length).toBeGreaterThan(0);
    expect(disabled.length).toBeLessThan(30);
    expect(disabled.every((u) => u.accountEnabled === false)).toBe(true);
    const groups = (await h.graph.api('/groups').filter("displayName eq 'platform team'").get()).value as Group[];
    expect(groups.map((g) => g.displayName)).toEqual(['Platform Team']);
  });

  test('advanced-only operators need ConsistencyLevel: eventual + $count=true', async () => {
    const ne = await graphError(h.graph.api('/users').filter("department ne 'Sales'").get());
    expect([ne.statusCode, ne.code]).toEqual([400, 'Request_UnsupportedQuery']);
    expect(ne.message).toBe(
      "Operator 'ne' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information",
    );
    const ends = await graphError(h.graph.api('/users').filter("endswith(mail,'@contoso.example')").get());
    expect(ends.message).toMatch(/^Operator 'endsWith' is not supported because the required parameters might be missing/);
    // header alone is not enough
    const headerOnly = await graphError(h.graph.api('/users').header('ConsistencyLevel', 'eventual').filter("department ne 'Sales'").get());
    expect(headerOnly.code).toBe('Request_UnsupportedQuery');
    const not = await graphError(h.graph.api('/users').filter("not(department eq 'Sales')").get());
    expect(not.message).toMatch(/^Operator 'not'/);

    const ok = await h.graph.api('/users').header('ConsistencyLevel', 'eventual').count(true).filter("endswith(mail,'@contoso.example') and department ne 'Sales'").select('id').top(999).get();
    expect(ok['@odata.count']).toBe(ok.value.length);
    expect(ok.value.length).toBeGreaterThan(150);

    const company = await graphError(h.graph.api('/users').filter("companyName eq 'Contoso Ltd.'").get());
    expect(company.message).toBe("Unsupported or invalid query filter clause specified for property 'companyName' of resource 'User'.");
    const companyAdv = await h.graph.api('/users').header('ConsistencyLevel', 'eventual').count(true).filter("companyName eq 'Fabrikam Staffing'").select('companyName').get();
    expect(companyAdv['@odata.count']).toBeGreaterThan(0);
    const never = await graphError(h.graph.api('/users').header('ConsistencyLevel', 'eventual').count(true).filter("endswith(displayName,'x')").get());
    expect(never.message).toBe("Unsupported or invalid query filter clause specified for property 'displayName' of resource 'User'.");
  });

  test('unknown property, bad syntax, contains, too many clauses', async () => {
    const unknown = await graphError(h.graph.api('/users').filter("shoeSize eq '42'").get());
    expect([unknown.statusCode, unknown.code, unknown.message]).toEqual([400, 'Request_BadRequest', "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'."]);
    const syntax = await graphError(h.graph.api('/users').filter("employeeId eq 'E1001").get());
    expect(syntax.statusCode).toBe(400);
    const syntax2 = await graphError(h.graph.api('/users').filter('employeeId eq').get());
    expect(syntax2.statusCode).toBe(400);
    const contains = await graphError(h.graph.api('/users').filter("contains(displayName,'a')").get());
    expect([contains.statusCode, contains.code]).toEqual([400, 'Request_UnsupportedQuery']);
    const many = Array.from({ length: 16 }, (_, i) => `'E${1001 + i}'`).join(',');
    const tooMany = await graphError(h.graph.api('/users').filter(`employeeId in (${many})`).get());
    expect(tooMany.message).toBe("Too many child clauses specified in search filter expression containing 'OR' operators: 16. Max allowed: 15.");
  });

  test('$count=true without the header is ignored; /users/$count needs the header', async () => {
    const res = await h.graph.api('/users').count(true).select('id').top(1).get();
    expect(res['@odata.count']).toBeUndefined();
    const count = await h.raw('GET', '/v1.0/users/$count');
    expect([count.status, count.json.error.code, count.json.error.message]).toEqual([400, 'Request_BadRequest', '$count is not currently supported.']);
    const ok = await h.raw('GET', "/v1.0/users/$count?$filter=department eq 'Engineering'", { headers: EVENTUAL });
    expect(ok.status).toBe(200);
    expect(Number(ok.text)).toBe(h.sim.directory.liveUsers().filter((u) => u.props.department === 'Engineering').length);
  });

  test('$orderby: displayName by default; other properties or with $filter only as advanced queries', async () => {
    const sorted = (await h.graph.api('/users').orderby('displayName desc').select('displayName').top(999).get()).value as User[];
    const names = sorted.map((u) => u.displayName!.toLowerCase());
    expect(names).toEqual([...names].sort().reverse());
    const other = await graphError(h.graph.api('/users').orderby('employeeId').get());
    expect([other.code, other.message]).toEqual(['Request_UnsupportedQuery', 'Sorting not supported for current query.']);
    const withFilter = await graphError(h.graph.api('/users').filter("department eq 'Sales'").orderby('displayName').get());
    expect(withFilter.message).toBe('Sorting not supported for current query.');
    const adv = await h.graph.api('/users').header('ConsistencyLevel', 'eventual').count(true).filter("department eq 'Sales'").orderby('employeeId desc').select('employeeId').top(999).get();
    expect(adv.value.length).toBe(adv['@odata.count']);
  });

  test('$search needs the header', async () => {
    const e = await graphError(h.graph.api('/users').search('"displayName:lovelace"').get());
    expect(e.message).toBe("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'");
    const ok = (await h.graph.api('/users').header('ConsistencyLevel', 'eventual').search('"displayName:lovelace"').select('employeeId').get()).value as User[];
    expect(ok.map((u) => u.employeeId)).toEqual(['E1001']);
  });

  test('advanced-query nextLinks must be requested with the header again', async () => {
    const first = await h.raw('GET', '/v1.0/users?$count=true&$filter=' + encodeURIComponent("department ne 'Sales'") + '&$top=50&$select=id', { headers: EVENTUAL });
    expect(first.status).toBe(200);
    const next = first.json['@odata.nextLink'] as string;
    expect(next).toContain('$count=true');
    const without = await h.raw('GET', next);
    expect([without.status, without.json.error.code, without.json.error.message]).toEqual([400, 'Request_UnsupportedQuery', 'Unable to execute query; invalid page token specified.']);
    const all = await collectPages(h, next, EVENTUAL);
    expect(all.items.length + 50).toBe(first.json['@odata.count']);
    // the Graph client's PageIterator drops headers unless given as request options
    const firstPage = await h.graph.api('/users').header('ConsistencyLevel', 'eventual').count(true).filter("department ne 'Sales'").select('id').top(50).get();
    let n = 0;
    await new PageIterator(h.graph, firstPage, () => ++n > 0, { headers: EVENTUAL }).iterate();
    expect(n).toBe(first.json['@odata.count']);
  });
});

describe('memberships', () => {
  test('members are direct and typed; Engineering contains the Platform Team group; casts filter by type', async () => {
    const eng = byName('Engineering');
    const members = await h.graph.api(`/groups/${eng}/members`).top(999).get();
    expect(members['@odata.context']).toBe(`${h.sim.url}/v1.0/$metadata#directoryObjects`);
    const objs = members.value as (DirectoryObject & { '@odata.type': string; displayName?: string })[];
    expect(objs.every((o) => ['#microsoft.graph.user', '#microsoft.graph.group'].includes(o['@odata.type']))).toBe(true);
    const groupsInEng = objs.filter((o) => o['@odata.type'] === '#microsoft.graph.group');
    expect(groupsInEng.map((g) => g.displayName)).toEqual(['Platform Team']);
    const users = (await h.graph.api(`/groups/${eng}/members/microsoft.graph.user`).select('id,displayName').top(999).get()).value as User[];
    expect(users.length).toBe(objs.length - 1);
    const adaMember = objs.find((o) => o.id === ada.id);
    expect(adaMember).toBeDefined();
  });

  test('memberOf is direct, transitiveMemberOf follows nesting (All Staff via Engineering)', async () => {
    const direct = (await h.graph.api(`/users/${ada.id}/memberOf`).get()).value as (Group & { '@odata.type': string })[];
    const directNames = direct.map((g) => g.displayName).sort();
    expect(directNames).toEqual(['Cloud Admins', 'Engineering', 'Platform Team']);
    expect(direct.every((g) => g['@odata.type'] === '#microsoft.graph.group')).toBe(true);
    const transitive = (await h.graph.api(`/users/${ada.id}/transitiveMemberOf/microsoft.graph.group`).header('ConsistencyLevel', 'eventual').count(true).select('displayName').get()).value as Group[];
    expect(transitive.map((g) => g.displayName).sort()).toEqual(['All Staff', 'Cloud Admins', 'Engineering', 'Platform Team']);
    // a Platform Team member who is not a direct Engineering member still reaches Engineering transitively
    const tm = (await h.graph.api(`/groups/${byName('All Staff')}/transitiveMembers/microsoft.graph.user`).header('ConsistencyLevel', 'eventual').count(true).select('id').top(999).get()).value as User[];
    expect(tm.length).toBe(300);
    const fin = (await h.graph.api(`/groups/${byName('Finance')}/transitiveMembers`).select('id').top(999).get()).value as User[];
    expect(fin.some((u) => u.id === ada.id)).toBe(false);
  });

  test("a cast written with the schema's alias (graph.user, as kiota-generated SDKs write it) is the same cast", async () => {
    const allStaff = byName('All Staff');
    const full = (await h.graph.api(`/groups/${allStaff}/transitiveMembers/microsoft.graph.user`).header('ConsistencyLevel', 'eventual').count(true).select('id').top(999).get()).value as User[];
    const alias = (await h.graph.api(`/groups/${allStaff}/transitiveMembers/graph.user`).header('ConsistencyLevel', 'eventual').count(true).select('id').top(999).get()).value as User[];
    expect(alias.map((u) => u.id)).toEqual(full.map((u) => u.id));
    const groups = (await h.graph.api(`/users/${ada.id}/transitiveMemberOf/graph.group`).header('ConsistencyLevel', 'eventual').count(true).select('displayName').get()).value as Group[];
    expect(groups.map((g) => g.displayName).sort()).toEqual(['All Staff', 'Cloud Admins', 'Engineering', 'Platform Team']);
    const e = await graphError(h.graph.api(`/groups/${allStaff}/transitiveMembers/graph.device`).get());
    expect(e.statusCode).toBe(400);
  });

  test('a cast on a transitive relationship is an advanced query: refused without ConsistencyLevel and $count, as Microsoft documents', async () => {
    const allStaff = byName('All Staff');
    for (const path of [`/groups/${allStaff}/transitiveMembers/microsoft.graph.user`, `/users/${ada.id}/transitiveMemberOf/microsoft.graph.group`]) {
      const bare = await graphError(h.graph.api(path).select('id').get());
      expect([bare.statusCode, bare.code]).toEqual([400, 'Request_UnsupportedQuery']);
      const headerOnly = await graphError(h.graph.api(path).header('ConsistencyLevel', 'eventual').select('id').get());
      expect(headerOnly.code).toBe('Request_UnsupportedQuery');
      const ok = await h.graph.api(path).header('ConsistencyLevel', 'eventual').count(true).select('id').get();
      expect(ok['@odata.count']).toBeGreaterThan(0);
    }
    // A direct relationship takes the cast by default; without a cast the transitive one needs nothing.
    expect((await h.graph.api(`/groups/${byName('Engineering')}/members/microsoft.graph.user`).select('id').get()).value.length).toBeGreaterThan(0);
    expect((await h.graph.api(`/groups/${allStaff}/transitiveMembers`).select('id').get()).value.length).toBeGreaterThan(0);
  });

  test('groups hold service principals, devices and org contacts too, named by their @odata.type; a user cast leaves them out', async () => {
    type Member = { id: string; '@odata.type': string; displayName?: string };
    const members = (await h.graph.api(`/groups/${byName('Cloud Admins')}/transitiveMembers`).select('id,displayName').top(999).get()).value as Member[];
    expect(members.filter((m) => m['@odata.type'] === '#microsoft.graph.servicePrincipal').map((m) => m.displayName)).toEqual(['Deploy Automation']);
    const platform = (await h.graph.api(`/groups/${byName('Platform Team')}/members`).select('id').top(999).get()).value as Member[];
    expect(platform.map((m) => m['@odata.type'])).toContain('#microsoft.graph.device');
    const sales = (await h.graph.api(`/groups/${byName('Sales')}/members`).select('id,employeeId').top(999).get()).value as (Member & { employeeId?: string })[];
    const contact = sales.find((m) => m['@odata.type'] === '#microsoft.graph.orgContact')!;
    expect(contact).toEqual({ '@odata.type': '#microsoft.graph.orgContact', id: expect.any(String) });
    const usersOnly = (await h.graph.api(`/groups/${byName('Sales')}/members/microsoft.graph.user`).select('id').top(999).get()).value as Member[];
    expect(usersOnly.map((m) => m.id)).not.toContain(contact.id);
    expect(usersOnly.length).toBe(sales.length - 1);
  });

  test('$filter on a relationship needs advanced query; with it, it works', async () => {
    const eng = byName('Engineering');
    const e = await graphError(h.graph.api(`/groups/${eng}/members`).filter("startswith(displayName,'a')").get());
    expect([e.code, e.message]).toEqual(['Request_UnsupportedQuery', 'The specified filter to the reference property query is currently not supported.']);
    const ok = await h.graph.api(`/groups/${eng}/members`).header('ConsistencyLevel', 'eventual').count(true).filter("startswith(displayName,'ada')").get();
    expect(ok.value.map((o: User) => o.displayName)).toContain('Ada Lovelace');
    const count = await h.raw('GET', `/v1.0/groups/${eng}/members/microsoft.graph.user/$count`, { headers: EVENTUAL });
    expect(Number(count.text)).toBe(h.sim.directory.directMembers(eng).filter((o) => o.type === 'user').length);
  });

  test('manager chain: Ada -> VP Engineering -> CEO; the CEO has no manager (404)', async () => {
    const m1 = (await h.graph.api(`/users/${ada.id}/manager`).get()) as User & { '@odata.type': string };
    expect(m1['@odata.type']).toBe('#microsoft.graph.user');
    expect(m1.jobTitle).toBe('VP Engineering');
    const m2 = (await h.graph.api(`/users/${m1.id}/manager`).select('displayName,jobTitle').get()) as User;
    expect(m2).toMatchObject({ displayName: 'Grace Hopper', jobTitle: 'Chief Executive Officer' });
    const none = await graphError(h.graph.api(`/users/${m2.id}/manager`).get());
    expect(none.statusCode).toBe(404);
    const expanded = (await h.graph.api(`/users/${ada.id}`).expand('manager($select=id,displayName)').select('id').get()) as User;
    expect(expanded.manager?.id).toBe(m1.id);
    const reports = (await h.graph.api(`/users/${m2.id}/directReports`).select('jobTitle').get()).value as User[];
    expect(reports.map((r) => r.jobTitle).sort()).toEqual(['Chief Financial Officer', 'Chief People Officer', 'Head of Support', 'VP Engineering', 'VP Marketing', 'VP Sales']);
  });

  test('response headers: request-id, client-request-id, x-ms-resource-unit', async () => {
    const r = await h.raw('GET', '/v1.0/users?$top=1', { headers: { 'client-request-id': 'cid-1' } });
    expect(r.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers['client-request-id']).toBe('cid-1');
    expect(r.headers['x-ms-resource-unit']).toBe('1');
    expect(r.headers['content-type']).toMatch(/^application\/json/);
  });
});
