/**
 * The Graph connector (sources/entra) against the Entra ID simulator, started in this process:
 * paging and request cost, single reads, manager, nested groups, delta (create, update, soft delete,
 * restore, hard delete, memberships, a split big group), 410, throttling and 5xx, typed errors,
 * least privilege, and the whole listing resumed from a heartbeat checkpoint.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccessToken, TokenCredential } from '@azure/identity';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createGraphClient, type GraphFailureDetails, toGraphFailure } from '../../sources/entra/client';
import { type ListingHeartbeat, listInActivity } from '../../activities/source-listing';
import { EntraSource } from '../../sources/entra/adapter';
import { type ListingCheckpoint, readIdentities, type ReadIdentitiesResult } from '../../sources/entra/listing';

/** What the listing activity heartbeats when the source is Entra ID: Graph's own checkpoint. */
type GraphHeartbeat = Omit<ListingHeartbeat, 'listing'> & { listing: ListingCheckpoint };
import { type DeltaLinks, GraphSource, type GraphSourceOptions } from '../../sources/entra/source';
import type { SourceIdentity } from '../../domain/types';
import { type RequestLogEntry, type RunningSimulator, startSimulator } from '../../simulator';
import { secretCredential, SHARED_STATE_DIR } from '../simulator/harness';
import { trustingDispatcher } from '../simulator/trust';

const USERS = 2500;
const GROUPS = ['All Staff', 'Engineering', 'Cloud Admins', 'Platform Team', 'Finance'];
const SELECT = ['accountEnabled', 'department', 'displayName', 'employeeId', 'id', 'jobTitle', 'userPrincipalName'];

let sim: RunningSimulator;
let dispatcher: object;
let source: GraphSource;
let spillDir: string;

function sourceFor(credential: TokenCredential = secretCredential(sim), groups: readonly string[] = GROUPS, options: GraphSourceOptions = {}): GraphSource {
  const client = createGraphClient({ baseUrl: sim.graphBaseUrl, trustedHosts: [new URL(sim.url).hostname] }, credential, { fetchOptions: { dispatcher } as unknown as RequestInit });
  return new GraphSource(client, groups, options);
}

/** A credential that hands out the simulator's tokens with chosen roles (the app's consented permissions). */
function tokenWithRoles(roles: string[]): TokenCredential {
  return { getToken: async (): Promise<AccessToken> => ({ token: sim.issueToken({ roles }), expiresOnTimestamp: Date.now() + 3600_000 }) };
}

/** Graph requests (not token or admin) made while `fn` runs. */
async function graphRequests<T>(fn: () => Promise<T>): Promise<{ result: T; log: RequestLogEntry[] }> {
  const since = sim.requests.last;
  const result = await fn();
  return { result, log: sim.requests.since(since).filter((e) => e.area === 'graph') };
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

const detailsOf = (f: ApplicationFailure) => f.details?.[0] as GraphFailureDetails;

/** Referenced groups of a user as the simulator's own model says (nested groups flattened). */
function expectedGroups(userId: string): string[] {
  const wanted = new Set(GROUPS.map((n) => sim.directory.groupByName(n)!.id));
  return sim.directory.transitiveMemberOf(userId).filter((g) => wanted.has(g.id)).map((g) => String(g.props.displayName)).sort();
}

const names = (i: SourceIdentity) => i.groups.map((g) => g.displayName).sort();

function newUser(nick: string, extra: Record<string, unknown> = {}) {
  return sim.directory.createUser({ displayName: `Test ${nick}`, userPrincipalName: `${nick}@contoso.example`, employeeId: `T-${nick}`, department: 'Engineering', ...extra });
}

beforeAll(async () => {
  spillDir = mkdtempSync(join(tmpdir(), 'idflow-listing-test-'));
  sim = await startSimulator({ stateDir: SHARED_STATE_DIR, users: USERS });
  dispatcher = await trustingDispatcher(sim.caPem);
  source = sourceFor();
  await source.ping(); // the token, once
}, 60_000);

afterAll(async () => {
  await sim?.close();
  await (dispatcher as { close?: () => Promise<void> })?.close?.();
  rmSync(spillDir, { recursive: true, force: true });
});

afterEach(() => sim.faults.clear());

describe('whole listing', () => {
  test(`${USERS} users in 3 pages of 999, each with exactly the referenced groups (nested flattened) and the selected attributes`, async () => {
    const { result: pages, log } = await graphRequests(async () => {
      const out: { identities: SourceIdentity[]; next?: string }[] = [];
      for await (const page of source.listIdentities(SELECT)) out.push(page);
      return out;
    });
    const userPages = log.filter((e) => /^\/v1\.0\/users\?/.test(e.path));
    expect(userPages).toHaveLength(3);
    expect(decodeURIComponent(userPages[0]!.path)).toContain('$top=999');
    expect(pages.map((p) => p.identities.length)).toEqual([999, 999, USERS - 2 * 999]);
    const all = pages.flatMap((p) => p.identities);
    expect(new Set(all.map((i) => i.id)).size).toBe(USERS);
    for (const i of all) {
      expect(Object.keys(i.attributes).sort()).toEqual([...SELECT].sort());
      expect(i.employeeId).toMatch(/^E\d+$/);
      expect(names(i)).toEqual(expectedGroups(i.id));
    }
    // Everyone is in All Staff through their department group (nested), nobody directly.
    expect(all.filter((i) => names(i).includes('All Staff')).length).toBeGreaterThan(USERS * 0.9);
  });

  test('costs one request per page: users pages + each referenced group\'s member pages + one group lookup, never one per user', async () => {
    const fresh = sourceFor(); // resolves the groups again
    const { result, log } = await graphRequests(() => readIdentities(fresh, SELECT, { spillDir }));
    const memberPages = GROUPS.map((n) => {
      const members = sim.directory.transitiveMembers(sim.directory.groupByName(n)!.id).filter((o) => o.type === 'user').length;
      return Math.floor(members / 999) + 1; // a full page always has a nextLink, so the last may be empty
    });
    const expected = 1 + memberPages.reduce((a, b) => a + b, 0) + 3;
    expect(log.every((e) => e.status === 200)).toBe(true);
    expect(log.filter((e) => e.path.startsWith('/v1.0/groups?'))).toHaveLength(1);
    expect(log.filter((e) => e.path.includes('/transitiveMembers?'))).toHaveLength(memberPages.reduce((a, b) => a + b, 0));
    expect(log).toHaveLength(expected);
    expect(result.pages).toBe(expected - 1);
    expect(result.identities).toHaveLength(USERS);
    // For the record (the report quotes it): 2,500 users, 5 referenced groups.
    process.stdout.write(`listing: ${log.length} Graph requests for ${USERS} users (${memberPages.join('+')} member pages, 3 user pages, 1 group lookup)\n`);
  });
});

describe('single reads', () => {
  test('one user by employeeId and by id, with transitive groups; unknown ones are null', async () => {
    const byEmployeeId = await source.userByEmployeeId('E1001', SELECT);
    expect(byEmployeeId).toMatchObject({ employeeId: 'E1001', attributes: { displayName: 'Ada Lovelace', department: 'Engineering' } });
    expect(names(byEmployeeId!)).toEqual(expectedGroups(byEmployeeId!.id));
    expect(names(byEmployeeId!)).toEqual(expect.arrayContaining(['All Staff', 'Cloud Admins', 'Engineering', 'Platform Team']));
    const byId = await source.userById(byEmployeeId!.id, SELECT);
    expect(byId).toEqual(byEmployeeId);
    expect(await source.userById('00000000-0000-4000-8000-000000000000', SELECT)).toBeNull();
    expect(await source.userByEmployeeId('E404404', SELECT)).toBeNull();
    expect(await source.userByEmployeeId("O'Brien", SELECT)).toBeNull(); // quotes escaped, not a bad filter
  });

  test('transitive groups through two levels of nesting (Platform Team ⊂ Engineering ⊂ All Staff)', async () => {
    const u = newUser('nested.only');
    sim.directory.addMember(sim.directory.groupByName('Platform Team')!.id, u.id);
    const identity = await source.userById(u.id, SELECT);
    expect(names(identity!)).toEqual(['All Staff', 'Engineering', 'Platform Team']);
    const index = await source.membershipIndex();
    expect((index.get(u.id) ?? []).map((g) => g.displayName).sort()).toEqual(['All Staff', 'Engineering', 'Platform Team']);
  });

  test('manager: id, employeeId and displayName with $select; null for the CEO', async () => {
    const ada = sim.directory.userByEmployeeId('E1001')!;
    const expected = sim.directory.manager(ada.id)!;
    const { result: manager, log } = await graphRequests(() => source.managerOf(ada.id));
    expect(manager).toEqual({ id: expected.id, employeeId: String(expected.props.employeeId), displayName: String(expected.props.displayName) });
    expect(decodeURIComponent(log[0]!.path)).toMatch(/\/manager\?\$select=id,employeeId,displayName$/);
    expect(await source.managerOf(sim.directory.userByEmployeeId('E1004')!.id)).toBeNull();
  });

  test('a manager who is an organisational contact (Entra allows one) is no manager idflow can map: null, with no further look-up', async () => {
    const u = newUser('managed.by.contact');
    const contact = sim.directory.createOther('orgContact', 'Outside Counsel');
    sim.directory.setManager(u.id, contact.id);
    const { result, log } = await graphRequests(() => source.managerOf(u.id));
    expect(result).toBeNull();
    expect(log).toHaveLength(1);
  });
});

describe('delta', () => {
  const DSELECT = ['accountEnabled', 'department', 'displayName', 'employeeId', 'id', 'userPrincipalName'];
  let links: DeltaLinks;
  /** One round from the persisted links; the caller persists the new ones. */
  const round = async () => {
    const r = await source.changesSince(DSELECT, links);
    links = r.links;
    return r;
  };

  beforeAll(async () => {
    const first = await source.changesSince(DSELECT, null); // "from now"
    expect(first.changes.size).toBe(0);
    links = first.links;
  });

  test('create, update, soft delete, restore, hard delete; an unchanged round is empty', async () => {
    const u = newUser('delta.one');
    let r = await round();
    expect(r.changes.get(u.id)).toEqual({ id: u.id, employeeId: 'T-delta.one' });

    sim.directory.updateUser(u.id, { department: 'Finance' });
    r = await round();
    expect(r.changes.get(u.id)).toMatchObject({ id: u.id, employeeId: 'T-delta.one', removed: undefined });

    sim.directory.updateUser(u.id, { officeLocation: 'Elsewhere' }); // not selected: no change reported
    r = await round();
    expect(r.changes.has(u.id)).toBe(false);

    sim.directory.deleteUser(u.id);
    r = await round();
    expect(r.changes.get(u.id)).toMatchObject({ id: u.id, removed: 'changed' });

    sim.directory.restoreUser(u.id);
    r = await round();
    expect(r.changes.get(u.id)).toEqual({ id: u.id, employeeId: 'T-delta.one', removed: undefined });

    sim.directory.deleteUser(u.id, { hard: true });
    r = await round();
    expect(r.changes.get(u.id)).toEqual({ id: u.id, employeeId: undefined, removed: 'deleted' });

    r = await round();
    expect(r.changes.size).toBe(0);
    expect(r.pages).toBe(2);
  });

  test('membership changes: a user added to a group, a nested group added (its members expanded), a member removed', async () => {
    const u = newUser('delta.member');
    const v = newUser('delta.nested');
    const project = sim.directory.createGroup({ displayName: 'Delta Project', members: [v.id] });
    await round();

    sim.directory.addMember(sim.directory.groupByName('Cloud Admins')!.id, u.id);
    sim.directory.addMember(sim.directory.groupByName('Engineering')!.id, project.id);
    let r = await round();
    expect(r.changes.get(u.id)).toMatchObject({ id: u.id });
    expect(r.changes.get(v.id)).toMatchObject({ id: v.id, employeeId: 'T-delta.nested' });

    sim.directory.removeMember(sim.directory.groupByName('Cloud Admins')!.id, u.id);
    r = await round();
    expect([...r.changes.keys()]).toEqual([u.id]);
    expect(r.unresolvedGroups).toEqual([]);
  });

  test('a nested group deleted: its former members cannot be listed, so it is reported as unresolved instead of failing', async () => {
    const w = newUser('delta.gone');
    const doomed = sim.directory.createGroup({ displayName: 'Doomed Project', members: [w.id] });
    sim.directory.addMember(sim.directory.groupByName('Engineering')!.id, doomed.id);
    await round();
    sim.directory.deleteGroup(doomed.id);
    const r = await round();
    expect(r.unresolvedGroups).toEqual([doomed.id]);
  });

  test('a group with 120 members changing is split over pages (50 per entry) and merged: everyone is reported', async () => {
    const team = Array.from({ length: 120 }, (_, i) => newUser(`big.${i}`));
    await round(); // the creations
    const big = sim.directory.createGroup({ displayName: 'Big Group', members: team.map((u) => u.id) });
    const since = sim.requests.last;
    const r = await round();
    const groupPages = sim.requests.since(since).filter((e) => e.path.startsWith('/v1.0/groups/delta'));
    expect(groupPages.length).toBeGreaterThanOrEqual(3); // 50 + 50 + 20 member entries, a group entry per page
    expect(r.changes.size).toBe(120);
    for (const u of team) expect(r.changes.has(u.id)).toBe(true);
    sim.directory.deleteGroup(big.id);
  });

  test('a round replayed, shuffled and with empty pages: a permanent deletion stays one, a soft delete beside a plain entry is left to the person\'s workflow as a change, and non-user members cost no look-up', async () => {
    const [gone, purged, back, moved] = ['quirk.gone', 'quirk.purged', 'quirk.back', 'quirk.moved'].map((n) => newUser(n));
    await round();
    Object.assign(sim.directory.deltaQuirks, { replay: true, shuffle: true, emptyPages: true });
    try {
      sim.directory.deleteUser(gone!.id);
      sim.directory.deleteUser(purged!.id, { hard: true });
      sim.directory.deleteUser(back!.id);
      sim.directory.restoreUser(back!.id);
      sim.directory.updateUser(moved!.id, { department: 'Finance' });
      const bot = sim.directory.createOther('servicePrincipal', 'Quirk Bot');
      sim.directory.addMember(sim.directory.groupByName('Cloud Admins')!.id, bot.id);
      const since = sim.requests.last;
      const r = await round();
      const log = sim.requests.since(since).filter((e) => e.area === 'graph');
      // Removed, then an older plain entry replayed: not decided from the order; reported as a change.
      expect(r.changes.get(gone!.id)).toMatchObject({ employeeId: 'T-quirk.gone', removed: undefined });
      expect(r.changes.get(purged!.id)).toMatchObject({ removed: 'deleted' });
      expect(r.changes.get(back!.id)).toMatchObject({ employeeId: 'T-quirk.back', removed: undefined });
      expect(r.changes.get(moved!.id)).toMatchObject({ employeeId: 'T-quirk.moved', removed: undefined });
      expect(r.changes.has(bot.id)).toBe(false);
      expect(log.filter((e) => e.path.includes(bot.id))).toEqual([]);
      // Nothing is looked up per user here: the person's workflow asks, through the replication lag.
      expect(log.filter((e) => /^\/v1\.0\/users\/[0-9a-f-]{36}\?/.test(e.path))).toEqual([]);
      expect(log.filter((e) => e.path.includes('/delta') && e.status === 200).length).toBeGreaterThanOrEqual(4); // an empty page before every page
    } finally {
      Object.assign(sim.directory.deltaQuirks, { replay: false, shuffle: false, emptyPages: false });
    }
  });

  test('410 Gone on an expired delta link → Graph.resyncRequired, non-retryable, with the request-id', async () => {
    sim.directory.expireDeltaTokens();
    const f = await failureOf(source.changesSince(DSELECT, links));
    expect(f.type).toBe('Graph.resyncRequired');
    expect(f.nonRetryable).toBe(true);
    expect(detailsOf(f).requestId).toMatch(/[0-9a-f-]{36}/);
    const fresh = await source.changesSince(DSELECT, null); // what syncDelta does next
    links = fresh.links;
    expect((await round()).changes.size).toBe(0);
  });
});

describe('throttling and failures', () => {
  test('429 with Retry-After: 0 for the next 2 requests → success after 2 retries, quickly', async () => {
    sim.faults.add({ status: 429, retryAfter: 0, count: 2, pathPrefix: '/v1.0/users' });
    const t0 = Date.now();
    const { result, log } = await graphRequests(() => source.userByEmployeeId('E1002', SELECT));
    expect(result?.employeeId).toBe('E1002');
    expect(log.slice(0, 3).map((e) => [e.status, e.retryAttempt ?? 0])).toEqual([[429, 0], [429, 1], [200, 2]]);
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  test('503 and 504 are retried too', async () => {
    sim.faults.add({ status: 503, retryAfter: 0, count: 1 });
    sim.faults.add({ status: 504, retryAfter: 0, count: 1 });
    const { log } = await graphRequests(() => source.ping());
    expect(log.map((e) => e.status)).toEqual([503, 504, 200]);
  });

  test('a 503 storm longer than the retries → Graph.unavailable, retryable, with the last request-id', async () => {
    sim.faults.add({ status: 503, retryAfter: 0 });
    const since = sim.requests.last;
    const f = await failureOf(source.ping());
    const log = sim.requests.since(since).filter((e) => e.area === 'graph');
    expect(log.map((e) => e.status)).toEqual([503, 503, 503, 503]); // 1 + 3 retries
    expect(f.type).toBe('Graph.unavailable');
    expect(f.nonRetryable).toBe(false);
    expect(detailsOf(f)).toMatchObject({ statusCode: 503, code: 'ServiceNotAvailable', requestId: log[3]!.requestId });
    expect(f.message).toContain(log[3]!.requestId);
  });

  test('persistent 429 → Graph.throttled, retryable', async () => {
    sim.faults.add({ status: 429, retryAfter: 0 });
    const f = await failureOf(source.ping());
    expect([f.type, f.nonRetryable, detailsOf(f).code]).toEqual(['Graph.throttled', false, 'TooManyRequests']);
  });

  test('a Retry-After longer than the in-process limit is left to Temporal: no wait, nextRetryDelay = Retry-After', async () => {
    sim.faults.add({ status: 429, retryAfter: 120, count: 1 });
    const t0 = Date.now();
    const { result: f, log } = await graphRequests(() => failureOf(source.ping()));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(log).toHaveLength(1);
    expect(f.type).toBe('Graph.throttled');
    expect(detailsOf(f).retryAfterSeconds).toBe(120);
    expect(f.nextRetryDelay).toBe(120_000);
  });

  test('a dropped connection → Graph.unavailable, retryable', async () => {
    sim.faults.add({ drop: true, count: 1 });
    const f = await failureOf(source.ping());
    expect([f.type, f.nonRetryable]).toEqual(['Graph.unavailable', false]);
    expect(f.message).toMatch(/fetch failed: other side closed/);
  });

  test('a wrong client secret → Graph.authentication, non-retryable, with the AADSTS message', async () => {
    const bad = sourceFor(secretCredential(sim, 'not-the-secret'));
    const f = await failureOf(bad.ping());
    expect(f.type).toBe('Graph.authentication');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toMatch(/AADSTS7000215/);
    expect(f.message).not.toContain('not-the-secret');
  });

  test('an expired client secret → Graph.authentication, non-retryable, saying AADSTS7000222 (not a retry storm)', async () => {
    sim.authority.secretExpiresAt = Date.now() - 1000;
    try {
      const f = await failureOf(sourceFor(secretCredential(sim)).ping());
      expect([f.type, f.nonRetryable]).toEqual(['Graph.authentication', true]);
      expect(f.message).toMatch(/AADSTS7000222: The provided client secret keys for app .* are expired/);
    } finally {
      sim.authority.secretExpiresAt = null;
    }
  });

  test('an authority that cannot be reached (here: its certificate is not trusted) → Graph.unavailable, retryable', async () => {
    const { ClientSecretCredential } = await import('@azure/identity');
    const untrusted = sourceFor(new ClientSecretCredential(sim.tenantId, sim.clientId, sim.clientSecret, { authorityHost: sim.authorityHost, disableInstanceDiscovery: true }));
    const f = await failureOf(untrusted.ping());
    expect([f.type, f.nonRetryable]).toEqual(['Graph.unavailable', false]);
    expect(f.message).toMatch(/endpoints_resolution_error/);
  });

  test('a token without GroupMember.Read.All → Graph.authorization (403), non-retryable', async () => {
    const weak = sourceFor(tokenWithRoles(['User.Read.All']));
    await weak.ping(); // users are readable
    const f = await failureOf(weak.membershipIndex());
    expect([f.type, f.nonRetryable, detailsOf(f).statusCode, detailsOf(f).code]).toEqual(['Graph.authorization', true, 403, 'Authorization_RequestDenied']);
    expect(detailsOf(f).requestId).toMatch(/[0-9a-f-]{36}/);
  });

  test('least privilege: User.Read.All + GroupMember.Read.All are enough for every read the connector makes', async () => {
    const least = sourceFor(tokenWithRoles(['User.Read.All', 'GroupMember.Read.All']));
    const ada = await least.userByEmployeeId('E1001', SELECT);
    expect(names(ada!)).toContain('Cloud Admins');
    expect(await least.userById(ada!.id, SELECT)).toEqual(ada);
    expect(await least.managerOf(ada!.id)).not.toBeNull();
    expect(await least.employeeIdOf(ada!.id)).toBe('E1001');
    expect((await readIdentities(least, SELECT, { spillDir })).identities).toHaveLength(sim.directory.liveUsers().length);
    const d = await least.changesSince(SELECT, null);
    expect((await least.changesSince(SELECT, d.links)).changes).toBeDefined();
  });

  test('bad requests → Graph.badRequest with the request-id: an unknown $select property, an unsupported $filter', async () => {
    const checkpoints: unknown[] = [];
    const f = await failureOf(readIdentities(sourceFor(), ['id', 'noSuchProperty'], { spillDir, checkpoint: (cp) => checkpoints.push(cp) }));
    expect(checkpoints.length).toBeGreaterThan(0); // the member pages were logged before the users page failed
    expect([f.type, f.nonRetryable]).toEqual(['Graph.badRequest', true]);
    expect(f.message).toMatch(/noSuchProperty/);
    expect(readdirSync(spillDir)).toEqual([]); // no retry will come: the page log is dropped
    // The connector never sends such a filter; the mapping is the same for any Graph error.
    const client = createGraphClient({ baseUrl: sim.graphBaseUrl, trustedHosts: [new URL(sim.url).hostname] }, secretCredential(sim), { fetchOptions: { dispatcher } as unknown as RequestInit });
    const err = await client.api('/users').filter("contains(displayName,'a')").get().catch((e: unknown) => e);
    const g = toGraphFailure(err, 'test') as ApplicationFailure;
    expect([g.type, g.nonRetryable, detailsOf(g).statusCode]).toEqual(['Graph.badRequest', true, 400]);
    expect(detailsOf(g).requestId).toMatch(/[0-9a-f-]{36}/);
  });

  test('not found → Graph.notFound; the lookups that expect it answer null', async () => {
    const client = createGraphClient({ baseUrl: sim.graphBaseUrl, trustedHosts: [new URL(sim.url).hostname] }, secretCredential(sim), { fetchOptions: { dispatcher } as unknown as RequestInit });
    const err = await client.api('/users/00000000-0000-4000-8000-000000000000').get().catch((e: unknown) => e);
    const g = toGraphFailure(err, 'test') as ApplicationFailure;
    expect([g.type, g.nonRetryable, detailsOf(g).code]).toEqual(['Graph.notFound', true, 'Request_ResourceNotFound']);
    expect(await source.employeeIdOf('00000000-0000-4000-8000-000000000000')).toBeNull();
  });

  test('an unknown source group is a config error', async () => {
    await expect(sourceFor(undefined, ['No Such Group']).membershipIndex()).rejects.toThrow(/"No Such Group" named in the config does not exist/);
  });
});

describe('listing resumed from a heartbeat checkpoint', () => {
  const logger = new DefaultLogger('ERROR');
  /** The listing as reconcile's activity would run it, in a mocked activity context. */
  const inActivity = (env: MockActivityEnvironment, dir: string) => env.run(() => listInActivity(new EntraSource(sourceFor()), SELECT, { spillDir: dir })) as Promise<ReadIdentitiesResult>;

  /** Attempt 1: the Graph outage starts after the first users page; the activity fails after its last heartbeat. */
  async function failingAttempt(dir: string): Promise<GraphHeartbeat> {
    const env = new MockActivityEnvironment(undefined, { logger });
    let last: GraphHeartbeat | undefined;
    env.on('heartbeat', (d: GraphHeartbeat) => {
      last = d;
      if (d.listing.cursor.phase === 'users' && d.listing.cursor.next) sim.faults.add({ status: 503, retryAfter: 0, pathPrefix: '/v1.0/users' });
    });
    const f = await failureOf(inActivity(env, dir));
    expect(f.type).toBe('Graph.unavailable');
    sim.faults.clear();
    expect(last!.listing.cursor).toMatchObject({ phase: 'users', next: expect.stringContaining('$skiptoken=') });
    expect(last!.identities).toBe(999);
    return last!;
  }

  test('a retry resumes from the last page: only the remaining user pages are requested, and the result is the whole directory', async () => {
    const baseline = await readIdentities(sourceFor(), SELECT, { spillDir });
    const beat = await failingAttempt(spillDir);
    // The heartbeat is small whatever the directory's size, and the page log on disk is encrypted.
    expect(JSON.stringify(beat).length).toBeLessThan(2000);
    const logs = readdirSync(spillDir);
    expect(logs).toEqual([`${beat.listing.id}.log`]);
    const onDisk = readFileSync(join(spillDir, logs[0]!), 'utf8');
    expect(onDisk).not.toContain('E1001');
    expect(onDisk).not.toContain('contoso.example');

    const env = new MockActivityEnvironment({ heartbeatDetails: beat }, { logger });
    const beats: GraphHeartbeat[] = [];
    env.on('heartbeat', (d: GraphHeartbeat) => beats.push(d));
    const { result, log } = await graphRequests(() => inActivity(env, spillDir));
    expect(log.map((e) => e.path.split('?')[0])).toEqual(['/v1.0/users', '/v1.0/users']); // pages 2 and 3, nothing else
    expect(log.every((e) => e.path.includes('$skiptoken='))).toBe(true);
    expect(result.resumed).toEqual({ pages: beat.listing.pages, identities: 999 });
    expect(result.pagesRead).toBe(2);
    expect(result.pages).toBe(baseline.pages);
    expect(beats.map((b) => b.identities)).toEqual([1998]);
    const byId = (xs: SourceIdentity[]) => [...xs].sort((a, b) => a.id.localeCompare(b.id));
    expect(byId(result.identities)).toEqual(byId(baseline.identities));
    expect(readdirSync(spillDir)).toEqual([]); // the log is gone once the listing completes
  });

  test('on another worker (no page log) the retry reads everything again: slower, never partial', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'idflow-listing-test-'));
    const beat = await failingAttempt(dir);
    const env = new MockActivityEnvironment({ heartbeatDetails: beat }, { logger });
    const result = await inActivity(env, spillDir);
    expect(result.resumed).toBeNull();
    expect(result.resumeRejected).toMatch(/not on this worker/);
    expect(result.identities).toHaveLength(sim.directory.liveUsers().length);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a checkpoint from another config, a damaged log or a refused page link → a full read', async () => {
    const other = await failingAttempt(spillDir);
    const changedSelect = await readIdentities(sourceFor(), [...SELECT, 'mail'], { spillDir, resume: other.listing });
    expect(changedSelect.resumeRejected).toMatch(/another select/);
    expect(changedSelect.identities).toHaveLength(sim.directory.liveUsers().length);

    const tampered = await failingAttempt(spillDir);
    const wrongKey = { ...tampered.listing, key: Buffer.alloc(32, 7).toString('base64') };
    const damaged = await readIdentities(sourceFor(), SELECT, { spillDir, resume: wrongKey });
    expect(damaged.resumeRejected).toMatch(/cannot be decrypted/);
    expect(damaged.identities).toHaveLength(sim.directory.liveUsers().length);

    const expired = await failingAttempt(spillDir);
    const cursor = expired.listing.cursor as { phase: 'users'; next: string };
    const badLink = { ...expired.listing, cursor: { ...cursor, next: cursor.next.replace(/\$skiptoken=[^&]{8}/, '$skiptoken=AAAAAAAA') } };
    const { result: refused, log } = await graphRequests(() => readIdentities(sourceFor(), SELECT, { spillDir, resume: badLink }));
    expect(log[0]!.status).toBe(400);
    expect(refused.resumeRejected).toMatch(/page link was refused/);
    expect(refused.identities).toHaveLength(sim.directory.liveUsers().length);
    expect(readdirSync(spillDir)).toEqual([]);
  });

  test('resuming during the membership phase continues with the same group\'s next page', async () => {
    // Small pages are not possible ($top is fixed at 999), so take the checkpoint after the first group.
    const env = new MockActivityEnvironment(undefined, { logger });
    const beats: GraphHeartbeat[] = [];
    env.on('heartbeat', (d: GraphHeartbeat) => {
      beats.push(d);
      if (beats.length === 1) throw new Error('worker lost');
    });
    await expect(inActivity(env, spillDir)).rejects.toThrow('worker lost');
    expect(beats[0]!.listing.cursor).toEqual({ phase: 'members', group: 0, next: expect.stringContaining('$skiptoken=') }); // All Staff has > 999 members
    const retry = new MockActivityEnvironment({ heartbeatDetails: beats[0] }, { logger });
    const { result, log } = await graphRequests(() => inActivity(retry, spillDir));
    expect(log[0]!.path).toContain('/transitiveMembers?');
    expect(log[0]!.path).toContain('$skiptoken=');
    expect(log.some((e) => e.path.startsWith('/v1.0/groups?'))).toBe(false); // the groups came from the checkpoint
    expect(result.resumed).toEqual({ pages: 1, identities: 0 });
    const baseline = await readIdentities(sourceFor(), SELECT, { spillDir });
    const key = (xs: SourceIdentity[]) => xs.map((i) => `${i.id}:${names(i).join('|')}`).sort();
    expect(key(result.identities)).toEqual(key(baseline.identities));
  });

  test('outside an activity (idflow plan) there is nothing to resume from, nobody to heartbeat to, and no page log', async () => {
    const dir = join(spillDir, 'never-created');
    const result = await listInActivity(new EntraSource(source), SELECT, { spillDir: dir });
    expect(existsSync(dir)).toBe(false);
    expect(result.resumed).toBeNull();
    expect(result.identities).toHaveLength(sim.directory.liveUsers().length);
  });
});
