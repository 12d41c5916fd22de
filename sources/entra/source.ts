import { createHash } from 'node:crypto';
import { type Client, RetryHandlerOptions } from '@microsoft/microsoft-graph-client';
import type { Group, User } from '@microsoft/microsoft-graph-types';
import type { SourceChange } from '../../contracts/source';
import type { AttributeValue, SourceGroupRef, SourceIdentity } from '../../domain/types';
import { retryAfterOf, toGraphFailure } from './client';

const PAGE_SIZE = 999;
/** Graph accepts about 15 or-ed clauses / `in` values in one $filter. */
const FILTER_CHUNK = 15;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type DeltaLinks = {
  users: string;
  groups: string;
};

/** A user's manager, as much as idflow needs of them. */
export interface ManagerRef {
  id: string;
  employeeId: string | null;
  displayName: string | null;
}

export interface GraphSourceOptions {
  /**
   * The longest Retry-After (seconds) one request waits for inside the Graph client. A longer wait
   * ends the request as a retryable `Graph.throttled`/`Graph.unavailable` whose `nextRetryDelay` is
   * the Retry-After: Temporal then waits durably, instead of an activity sleeping past its
   * heartbeat timeout (3 retries × 20 s stay well inside the 2-minute one). Default 20.
   */
  maxRetryAfterSeconds?: number;
  /** Retries of one request on 429/503/504 by the Graph client's RetryHandler (default 3, at most 10). */
  maxRetries?: number;
  /** Seconds before a retry when Graph sent no Retry-After (the RetryHandler adds exponential backoff). Default 3. */
  retryDelaySeconds?: number;
}

interface Query {
  filter?: string;
  select?: readonly string[];
  top?: number;
}

interface Page<T> {
  value: T[];
  '@odata.nextLink'?: string;
}

/**
 * A directoryObject in a relationship collection. Graph names each one's type; idflow reads the
 * type instead of casting the path (`…/transitiveMembers/microsoft.graph.user`), because Microsoft
 * documents casts on transitive relationships as advanced queries (ConsistencyLevel: eventual and
 * $count=true), which also read an eventually consistent index.
 */
type Typed<T> = T & { '@odata.type'?: string };
const USER_TYPE = '#microsoft.graph.user';
const GROUP_TYPE = '#microsoft.graph.group';

/** Graph names every member's type; one without is taken for the type asked about (a missed person costs more than a 404). */
function isA(o: { '@odata.type'?: string }, type: string): boolean {
  return (o['@odata.type'] ?? type) === type;
}

/**
 * Reads people from Entra ID through Graph. Only the selected attributes are fetched, and only
 * memberships in the groups the config names (nested groups flattened) are carried.
 *
 * Permissions (application, read-only): User.Read.All for /users, /users/{id}, /users/{id}/manager,
 * /users/{id}/transitiveMemberOf and /users/delta; GroupMember.Read.All for /groups,
 * /groups/{id}/transitiveMembers and /groups/delta.
 */
export class GraphSource {
  private groupIds: Map<string, SourceGroupRef> | null = null;
  private readonly retry: RetryHandlerOptions;

  constructor(
    private readonly client: Client,
    /** Source groups named by the config, by display name or id. */
    readonly referencedGroups: readonly string[],
    options: GraphSourceOptions = {},
  ) {
    const maxWait = options.maxRetryAfterSeconds ?? 20;
    this.retry = new RetryHandlerOptions(options.retryDelaySeconds ?? 3, options.maxRetries ?? 3, (_delay, _attempt, _request, _options, response) => {
      const after = retryAfterOf(response?.headers?.get('Retry-After'));
      return after === undefined || after <= maxWait;
    });
  }

  async userByEmployeeId(employeeId: string, select: readonly string[]): Promise<SourceIdentity | null> {
    const escaped = employeeId.replace(/'/g, "''");
    const page = await this.get<Page<User>>('/users', `user lookup by employeeId ${employeeId}`, { filter: `employeeId eq '${escaped}'`, select: withCore(select), top: 2 });
    if (page.value.length > 1) throw new Error(`more than one Entra ID user has employeeId ${employeeId}`);
    const user = page.value[0];
    if (!user) return null;
    return toIdentity(user, select, await this.groupsOfUser(user.id!));
  }

  /**
   * Every Entra object id with this employee id (a leaver revokes them all), with Entra ID's spelling
   * of the id: Graph's `eq` matches without regard to case. Bounded, since more than a handful is a data error to report, not to page.
   */
  async userIdsByEmployeeId(employeeId: string): Promise<{ id: string; employeeId: string }[]> {
    const escaped = employeeId.replace(/'/g, "''");
    const page = await this.get<Page<User>>('/users', `user lookup by employeeId ${employeeId}`, { filter: `employeeId eq '${escaped}'`, select: ['id', 'employeeId'], top: 25 });
    return page.value.map((u) => ({ id: u.id!, employeeId: u.employeeId ?? employeeId })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** One user by Entra object id (or userPrincipalName), with their referenced groups; null when there is no such (live) user. */
  async userById(id: string, select: readonly string[]): Promise<SourceIdentity | null> {
    let user: User;
    try {
      user = await this.get<User>(`/users/${encodeURIComponent(id)}`, `user ${id}`, { select: withCore(select) });
    } catch (err) {
      if ((err as { type?: string }).type === 'Graph.notFound') return null;
      throw err;
    }
    return toIdentity(user, select, await this.groupsOfUser(user.id!));
  }

  /**
   * A user's manager, or null when they have none (Graph answers 404 both for "no manager" and for
   * "no such user"). A manager that is not a user (an organisational contact) is also null.
   */
  async managerOf(userId: string): Promise<ManagerRef | null> {
    let manager: User & { '@odata.type'?: string };
    try {
      manager = await this.get(`/users/${encodeURIComponent(userId)}/manager`, `manager of user ${userId}`, { select: ['id', 'employeeId', 'displayName'] });
    } catch (err) {
      if ((err as { type?: string }).type === 'Graph.notFound') return null;
      throw err;
    }
    if (manager['@odata.type'] && manager['@odata.type'] !== '#microsoft.graph.user') return null;
    return { id: manager.id!, employeeId: manager.employeeId ?? null, displayName: manager.displayName ?? null };
  }

  /** The referenced groups a user is in, directly or through nested groups. */
  async groupsOfUser(userId: string): Promise<SourceGroupRef[]> {
    const wanted = await this.resolveGroups();
    const groups: SourceGroupRef[] = [];
    for await (const page of this.pages<Typed<Group>>(`/users/${encodeURIComponent(userId)}/transitiveMemberOf`, `group memberships of user ${userId}`, { select: ['id', 'displayName'], top: PAGE_SIZE })) {
      for (const g of page.value) if (isA(g, GROUP_TYPE) && wanted.has(g.id!)) groups.push(wanted.get(g.id!)!);
    }
    return sortGroups(groups);
  }

  /**
   * Every user, one page at a time, with their referenced groups. Costs one call per page of users
   * plus one per page of each referenced group's transitive members: never one call per user.
   * `startAt` continues from a page link (the membership index is read again first); activities use
   * `readIdentities` / `readIdentitiesInActivity` (./listing), which resume without re-reading.
   */
  async *listIdentities(select: readonly string[], startAt?: string): AsyncGenerator<{ identities: SourceIdentity[]; next?: string }> {
    const memberships = await this.membershipIndex();
    for await (const page of this.userPages(select, startAt)) {
      yield { identities: page.users.map((u) => toIdentity(u, select, sortGroups(memberships.get(u.id!) ?? []))), next: page.next };
    }
  }

  /** Raw pages of `/users` ($select = select + the core attributes, $top=999), from the start or from a page link. */
  async *userPages(select: readonly string[], startAt?: string): AsyncGenerator<{ users: User[]; next?: string }> {
    const first = startAt ?? this.url('/users', { select: withCore(select), top: PAGE_SIZE });
    for await (const page of this.pages<User>(first, 'user listing')) yield { users: page.value, next: page.next };
  }

  /** Pages of the ids of a group's transitive user members (nested groups flattened by Graph), from the start or from a page link. */
  async *memberPages(group: SourceGroupRef, startAt?: string): AsyncGenerator<{ userIds: string[]; next?: string }> {
    const first = startAt ?? this.url(`/groups/${encodeURIComponent(group.id)}/transitiveMembers`, { select: ['id'], top: PAGE_SIZE });
    for await (const page of this.pages<Typed<User>>(first, `members of group ${group.displayName}`)) yield { userIds: page.value.filter((m) => isA(m, USER_TYPE)).map((u) => u.id!), next: page.next };
  }

  /**
   * Changes since a deltaLink: users created, updated, restored or removed, and users whose memberships
   * changed (nested groups resolved to their users). Without a link, starts "from now"
   * ($deltatoken=latest): the scheduled full reconcile covers what existed before. The caller persists
   * the returned links. A 410 Gone becomes `Graph.resyncRequired`. `unresolvedGroups` names groups that
   * joined or left a group but no longer exist, so their members cannot be listed: the people
   * affected are unknown, and only a full reconcile finds them.
   */
  async changesSince(select: readonly string[], links: DeltaLinks | null): Promise<{ changes: Map<string, SourceChange>; links: DeltaLinks; pages: number; unresolvedGroups: string[] }> {
    const changes = new Map<string, SourceChange>();
    let pages = 0;
    const userSelect = [...new Set([...select, 'employeeId'])].join(',');
    // Graph promises no order in a round and may replay entries. A permanent deletion is final. A soft
    // delete seen beside a plain entry, in either order, is not decided here: it is reported as a change,
    // and the person's workflow asks the source (through its replication lag) and revokes only if they
    // are gone.
    const entries = { plain: new Set<string>(), softRemoved: new Set<string>(), deleted: new Set<string>() };
    const users = await this.deltaRound<User & { '@removed'?: { reason: string } }>(links?.users ?? `/users/delta?$select=${userSelect}&$deltatoken=latest`, 'users delta', (u) => {
      const reason = u['@removed']?.reason;
      entries[reason === undefined ? 'plain' : reason === 'deleted' ? 'deleted' : 'softRemoved'].add(u.id!);
      changes.set(u.id!, { id: u.id!, employeeId: u.employeeId ?? changes.get(u.id!)?.employeeId });
    });
    pages += users.pages;
    for (const [id, change] of changes) {
      const removed = entries.deleted.has(id) ? 'deleted' : entries.softRemoved.has(id) && !entries.plain.has(id) ? 'changed' : undefined;
      changes.set(id, { ...change, removed });
    }
    // members@delta of one group may be split over several entries and pages: collect them all.
    const memberIds = new Set<string>();
    const groups = await this.deltaRound<Group & { 'members@delta'?: { '@odata.type'?: string; id: string }[] }>(links?.groups ?? '/groups/delta?$select=displayName,members&$deltatoken=latest', 'groups delta', (g) => {
      for (const m of g['members@delta'] ?? []) {
        if (isA(m, USER_TYPE)) memberIds.add(m.id);
        else if (isA(m, GROUP_TYPE)) memberIds.add(`group:${m.id}`);
        // Service principals, devices and org contacts hold no account in any target.
      }
    });
    pages += groups.pages;
    const unresolvedGroups: string[] = [];
    for (const ref of memberIds) {
      if (ref.startsWith('group:')) {
        // A whole group joined or left: every user in it may have gained or lost access.
        try {
          for await (const page of this.pages<Typed<User>>(`/groups/${ref.slice(6)}/transitiveMembers`, 'members of a changed group', { select: ['id', 'employeeId'], top: PAGE_SIZE })) {
            for (const u of page.value) if (isA(u, USER_TYPE) && !changes.has(u.id!)) changes.set(u.id!, { id: u.id!, employeeId: u.employeeId ?? undefined });
          }
        } catch (err) {
          if ((err as { type?: string }).type !== 'Graph.notFound') throw err;
          unresolvedGroups.push(ref.slice(6));
        }
      } else if (!changes.has(ref)) changes.set(ref, { id: ref });
    }
    return { changes, links: { users: users.deltaLink, groups: groups.deltaLink }, pages, unresolvedGroups };
  }

  /** One cheap authenticated read: proves the credentials, the permissions and the network path. */
  async ping(): Promise<void> {
    await this.get<Page<User>>('/users', 'health check', { select: ['id'], top: 1 });
  }

  /** The employee id of a user who is still in Entra ID, or null. */
  async employeeIdOf(userId: string): Promise<string | null> {
    try {
      const user = await this.get<User>(`/users/${encodeURIComponent(userId)}`, `user ${userId}`, { select: ['employeeId'] });
      return user.employeeId ?? null;
    } catch (err) {
      if ((err as { type?: string }).type === 'Graph.notFound') return null;
      throw err;
    }
  }

  private async deltaRound<T>(first: string, what: string, each: (item: T) => void): Promise<{ deltaLink: string; pages: number }> {
    let next: string | undefined = first;
    let pages = 0;
    for (;;) {
      const page: Page<T> & { '@odata.deltaLink'?: string } = await this.get<Page<T> & { '@odata.deltaLink'?: string }>(next!, what);
      pages += 1;
      page.value.forEach(each);
      if (page['@odata.deltaLink']) return { deltaLink: page['@odata.deltaLink'], pages };
      next = page['@odata.nextLink'];
      if (!next) throw new Error(`${what}: a page had neither a nextLink nor a deltaLink`);
    }
  }

  /** userId -> referenced groups, from each group's transitive members. */
  async membershipIndex(): Promise<Map<string, SourceGroupRef[]>> {
    const index = new Map<string, SourceGroupRef[]>();
    for (const group of (await this.resolveGroups()).values()) {
      for await (const page of this.memberPages(group)) addMembers(index, group, page.userIds);
    }
    return index;
  }

  /** The referenced groups, resolved to ids (one request per 15 names or ids). */
  async resolvedGroups(): Promise<SourceGroupRef[]> {
    return [...(await this.resolveGroups()).values()];
  }

  /** Identifies what a listing reads: a checkpoint taken under another config is not resumed. */
  listingFingerprint(select: readonly string[]): string {
    return createHash('sha256').update(JSON.stringify({ select: [...withCore(select)].sort(), groups: [...this.referencedGroups].sort() })).digest('hex').slice(0, 16);
  }

  /** Resolves configured group names and ids once; an unknown or ambiguous group is a config error worth failing on. */
  private async resolveGroups(): Promise<Map<string, SourceGroupRef>> {
    if (this.groupIds) return this.groupIds;
    const refs = [...new Set(this.referencedGroups)];
    const found: Group[] = [];
    for (const [property, values] of [['id', refs.filter((r) => GUID.test(r))], ['displayName', refs.filter((r) => !GUID.test(r))]] as const) {
      for (let i = 0; i < values.length; i += FILTER_CHUNK) {
        const chunk = values.slice(i, i + FILTER_CHUNK);
        const filter = `${property} in (${chunk.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ')})`;
        for await (const page of this.pages<Group>('/groups', `group lookup ${chunk.join(', ')}`, { filter, select: ['id', 'displayName'], top: PAGE_SIZE })) found.push(...page.value);
      }
    }
    const resolved = new Map<string, SourceGroupRef>();
    for (const ref of refs) {
      // Graph compares display names case-insensitively.
      const matches = GUID.test(ref) ? found.filter((g) => g.id!.toLowerCase() === ref.toLowerCase()) : found.filter((g) => (g.displayName ?? '').toLowerCase() === ref.toLowerCase());
      const unique = [...new Map(matches.map((g) => [g.id!, g])).values()];
      if (unique.length === 0) throw new Error(`source group "${ref}" named in the config does not exist in Entra ID`);
      if (unique.length > 1) throw new Error(`source group name "${ref}" is ambiguous in Entra ID; use its id in the config`);
      const g = unique[0]!;
      resolved.set(g.id!, { id: g.id!, displayName: g.displayName ?? g.id! });
    }
    this.groupIds = resolved;
    return resolved;
  }

  /** Follows @odata.nextLink from a path with query options or an absolute page link. */
  private async *pages<T>(path: string, what: string, query: Query = {}): AsyncGenerator<{ value: T[]; next?: string }> {
    let page: Page<T> = await this.get<Page<T>>(path, what, query);
    yield { value: page.value, next: page['@odata.nextLink'] };
    while (page['@odata.nextLink']) {
      page = await this.get<Page<T>>(page['@odata.nextLink'], what);
      yield { value: page.value, next: page['@odata.nextLink'] };
    }
  }

  /** A relative path with its query options, as one string (a page link to resume from looks the same). */
  private url(path: string, query: Pick<Query, 'select' | 'top'>): string {
    const params: string[] = [];
    if (query.select) params.push(`$select=${query.select.join(',')}`);
    if (query.top) params.push(`$top=${query.top}`);
    return params.length ? `${path}?${params.join('&')}` : path;
  }

  /** A path with query options, or an absolute nextLink as Graph gave it. */
  private async get<T>(path: string, what: string, query: Query = {}): Promise<T> {
    try {
      let request = this.client.api(path).middlewareOptions([this.retry]);
      if (query.filter) request = request.filter(query.filter);
      if (query.select) request = request.select([...query.select]);
      if (query.top) request = request.top(query.top);
      return (await request.get()) as T;
    } catch (err) {
      throw toGraphFailure(err, what);
    }
  }
}

export function addMembers(index: Map<string, SourceGroupRef[]>, group: SourceGroupRef, userIds: readonly string[]): void {
  for (const id of userIds) {
    const groups = index.get(id);
    if (!groups) index.set(id, [group]);
    else if (!groups.some((g) => g.id === group.id)) groups.push(group);
  }
}

/** The select plus what toIdentity always needs. */
function withCore(select: readonly string[]): string[] {
  return [...new Set(['id', 'employeeId', 'userPrincipalName', 'accountEnabled', ...select])];
}

export function sortGroups(groups: SourceGroupRef[]): SourceGroupRef[] {
  return [...groups].sort((a, b) => a.displayName.localeCompare(b.displayName) || a.id.localeCompare(b.id));
}

export function toIdentity(user: User, select: readonly string[], groups: SourceGroupRef[]): SourceIdentity {
  const record = user as Record<string, unknown>;
  const attributes: Record<string, AttributeValue> = {};
  for (const key of withCore(select)) {
    const v = record[key];
    attributes[key] = typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' ? v : null;
  }
  return {
    id: user.id!,
    employeeId: user.employeeId ?? '',
    login: user.userPrincipalName ?? '',
    enabled: user.accountEnabled ?? false,
    attributes,
    groups,
  };
}
