import type { Client } from '@microsoft/microsoft-graph-client';
import type { Group, User } from '@microsoft/microsoft-graph-types';
import type { AttributeValue, SourceGroupRef, SourceIdentity } from '../../domain/types';
import { toGraphFailure } from './client';

const PAGE_SIZE = 999;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface DeltaLinks {
  users: string;
  groups: string;
}

export interface UserChange {
  id: string;
  employeeId?: string;
  /** `changed`: soft-deleted (restorable); `deleted`: permanently deleted. */
  removed?: 'changed' | 'deleted';
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
 * Reads people from Entra ID through Graph. Only the selected attributes are fetched, and only
 * memberships in the groups the config names (nested groups flattened) are carried.
 */
export class GraphSource {
  private groupIds: Map<string, SourceGroupRef> | null = null;

  constructor(
    private readonly client: Client,
    /** Source groups named by the config, by display name or id. */
    private readonly referencedGroups: readonly string[],
  ) {}

  async userByEmployeeId(employeeId: string, select: readonly string[]): Promise<SourceIdentity | null> {
    const escaped = employeeId.replace(/'/g, "''");
    const page = await this.get<Page<User>>('/users', `user lookup by employeeId ${employeeId}`, { filter: `employeeId eq '${escaped}'`, select, top: 2 });
    if (page.value.length > 1) throw new Error(`more than one Entra ID user has employeeId ${employeeId}`);
    const user = page.value[0];
    if (!user) return null;
    return toIdentity(user, select, await this.groupsOfUser(user.id!));
  }

  /** The referenced groups a user is in, directly or through nested groups. */
  async groupsOfUser(userId: string): Promise<SourceGroupRef[]> {
    const wanted = await this.resolveGroups();
    const groups: SourceGroupRef[] = [];
    for await (const page of this.pages<Group>(`/users/${encodeURIComponent(userId)}/transitiveMemberOf/microsoft.graph.group`, `group memberships of user ${userId}`, { select: ['id', 'displayName'], top: PAGE_SIZE })) {
      for (const g of page) if (wanted.has(g.id!)) groups.push(wanted.get(g.id!)!);
    }
    return sortGroups(groups);
  }

  /**
   * Every user, one page at a time, with their referenced groups. Costs one call per page of users
   * plus one per page of each referenced group's transitive members: never one call per user.
   * `startAt` resumes from a page link saved by a heartbeat.
   */
  async *listIdentities(select: readonly string[], startAt?: string): AsyncGenerator<{ identities: SourceIdentity[]; next?: string }> {
    const memberships = await this.membershipIndex();
    let next: string | undefined = startAt;
    let first = startAt === undefined;
    while (first || next) {
      const page: Page<User> = first ? await this.get<Page<User>>('/users', 'user listing', { select, top: PAGE_SIZE }) : await this.get<Page<User>>(next!, 'user listing');
      first = false;
      next = page['@odata.nextLink'];
      yield { identities: page.value.map((u) => toIdentity(u, select, sortGroups(memberships.get(u.id!) ?? []))), next };
    }
  }

  /**
   * Changes since a deltaLink: users created, updated or removed, and users whose memberships changed
   * (nested groups resolved to their users). Without a link, starts "from now" ($deltatoken=latest):
   * the scheduled full reconcile covers what existed before. A 410 Gone becomes ResyncRequired.
   */
  async changesSince(select: readonly string[], links: DeltaLinks | null): Promise<{ changes: Map<string, UserChange>; links: DeltaLinks; pages: number }> {
    const changes = new Map<string, UserChange>();
    let pages = 0;
    const userSelect = [...new Set([...select, 'employeeId'])].join(',');
    const users = await this.deltaRound<User & { '@removed'?: { reason: string } }>(links?.users ?? `/users/delta?$select=${userSelect}&$deltatoken=latest`, 'users delta', (u) => {
      const removed = u['@removed']?.reason;
      changes.set(u.id!, { id: u.id!, employeeId: u.employeeId ?? changes.get(u.id!)?.employeeId, removed: removed === 'deleted' ? 'deleted' : removed ? 'changed' : undefined });
    });
    pages += users.pages;
    const memberIds = new Set<string>();
    const groups = await this.deltaRound<Group & { 'members@delta'?: { '@odata.type'?: string; id: string }[] }>(links?.groups ?? '/groups/delta?$select=displayName,members&$deltatoken=latest', 'groups delta', (g) => {
      for (const m of g['members@delta'] ?? []) {
        if (m['@odata.type'] === '#microsoft.graph.group') memberIds.add(`group:${m.id}`);
        else memberIds.add(m.id);
      }
    });
    pages += groups.pages;
    for (const ref of memberIds) {
      if (ref.startsWith('group:')) {
        // A whole group joined or left: every user in it may have gained or lost access.
        for await (const page of this.pages<User>(`/groups/${ref.slice(6)}/transitiveMembers/microsoft.graph.user`, 'members of a changed group', { select: ['id', 'employeeId'], top: PAGE_SIZE })) {
          for (const u of page) if (!changes.has(u.id!)) changes.set(u.id!, { id: u.id!, employeeId: u.employeeId ?? undefined });
        }
      } else if (!changes.has(ref)) changes.set(ref, { id: ref });
    }
    return { changes, links: { users: users.deltaLink, groups: groups.deltaLink }, pages };
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
      for await (const page of this.pages<User>(`/groups/${group.id}/transitiveMembers/microsoft.graph.user`, `members of group ${group.displayName}`, { select: ['id'], top: PAGE_SIZE })) {
        for (const u of page) index.set(u.id!, [...(index.get(u.id!) ?? []), group]);
      }
    }
    return index;
  }

  /** Resolves configured group names to ids once; an unknown group is a config error worth failing on. */
  private async resolveGroups(): Promise<Map<string, SourceGroupRef>> {
    if (this.groupIds) return this.groupIds;
    const resolved = new Map<string, SourceGroupRef>();
    for (const ref of this.referencedGroups) {
      const filter = GUID.test(ref) ? `id eq '${ref}'` : `displayName eq '${ref.replace(/'/g, "''")}'`;
      const page = await this.get<Page<Group>>('/groups', `group lookup ${ref}`, { filter, select: ['id', 'displayName'], top: 2 });
      if (page.value.length === 0) throw new Error(`source group "${ref}" named in the config does not exist in Entra ID`);
      if (page.value.length > 1) throw new Error(`source group name "${ref}" is ambiguous in Entra ID; use its id in the config`);
      const g = page.value[0]!;
      resolved.set(g.id!, { id: g.id!, displayName: g.displayName ?? g.id! });
    }
    this.groupIds = resolved;
    return resolved;
  }

  private async *pages<T>(path: string, what: string, query: Query): AsyncGenerator<T[]> {
    let page: Page<T> = await this.get<Page<T>>(path, what, query);
    yield page.value;
    while (page['@odata.nextLink']) {
      page = await this.get<Page<T>>(page['@odata.nextLink'], what);
      yield page.value;
    }
  }

  /** A path with query options, or an absolute nextLink as Graph gave it. */
  private async get<T>(path: string, what: string, query: Query = {}): Promise<T> {
    try {
      let request = this.client.api(path);
      if (query.filter) request = request.filter(query.filter);
      if (query.select) request = request.select([...query.select]);
      if (query.top) request = request.top(query.top);
      return (await request.get()) as T;
    } catch (err) {
      throw toGraphFailure(err, what);
    }
  }
}

function sortGroups(groups: SourceGroupRef[]): SourceGroupRef[] {
  return [...groups].sort((a, b) => a.displayName.localeCompare(b.displayName) || a.id.localeCompare(b.id));
}

export function toIdentity(user: User, select: readonly string[], groups: SourceGroupRef[]): SourceIdentity {
  const record = user as Record<string, unknown>;
  const attributes: Record<string, AttributeValue> = {};
  for (const key of select) {
    const v = record[key];
    attributes[key] = typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' ? v : null;
  }
  return {
    id: user.id!,
    employeeId: user.employeeId ?? '',
    userPrincipalName: user.userPrincipalName ?? '',
    accountEnabled: user.accountEnabled ?? false,
    attributes,
    groups,
  };
}
