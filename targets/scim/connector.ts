import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { managedGroups } from '../../domain/config';
import type { ScimTargetConfig } from './config';
import { AccountGoneError, goneAsNotFound, goneAsNull } from '../failures';
import { isScimError, retryAfterMs, scimFailure } from './errors';
import type { AttributeChange } from '../../domain/plan';
import type { AccountRef, ActualAccount, ActualGroup } from '../../domain/types';
import { type CreateAccountInput, type DeleteRecord, type DisableRecord, type KnownState, TARGET_FAILURE, type TargetConnector, type TargetState } from '../connector';
import {
  checkScimAttributePaths,
  fromScimUser,
  type PatchOperation,
  prop,
  SCIM_CORE_USER,
  SCIM_ENTERPRISE_USER,
  SCIM_GROUP,
  SCIM_PATCH_OP,
  type ScimResource,
  scimPatchOperations,
  toScimUser,
} from './schema';

const memberFilter = (userId: string) => `members[value eq ${JSON.stringify(userId)}]`;

export interface ScimConnectorOptions {
  /** Where the bearer token is looked up (default process.env), under config.tokenEnv. */
  env?: Readonly<Record<string, string | undefined>>;
  /** The fetch to use (default the global one); tests wrap it to record the wire. */
  fetch?: typeof fetch;
  /** `count` per list request (default 1000, never above the server's filter.maxResults). */
  pageSize?: number;
  /** Members per group PATCH (default 50). */
  memberBatchSize?: number;
  /** The longest Retry-After honoured in-process (default 30 s); longer ones go back to Temporal. */
  maxRetryAfterMs?: number;
  /** Attempts per request for 429/503 (default 4). */
  maxAttempts?: number;
  /** Per-request timeout (default 30 s). */
  timeoutMs?: number;
}

interface ServiceProvider {
  etag: boolean;
  patch: boolean;
  /** `filter.supported` (RFC 7643 §5): false means lists are read whole and matched here. */
  filter: boolean;
  maxResults: number | null;
}

interface ListResponse {
  totalResults?: number;
  startIndex?: number;
  itemsPerPage?: number;
  Resources?: ScimResource[];
}

interface Reply {
  status: number;
  body: unknown;
  etag: string | null;
}

/** How old a read a PATCH may start from (with ETags only): an event's plan is read moments before its writes. */
const RECENT_READ_MS = 5_000;
const RECENT_READS_MAX = 1_000;

/**
 * A SCIM 2.0 service provider (RFC 7643/7644): Users (core + enterprise extension) and Groups.
 *
 * Ownership: idflow writes `externalId = "idflow:<instance>:<source id>"` on users and
 * `"idflow:<instance>:group:<name>"` on groups, and owns exactly what carries its prefix; the source
 * id is reported without the prefix. docs/targets.md explains the choice and its limits.
 */
export class ScimConnector implements TargetConnector {
  readonly maxGroupsPerUser = undefined;
  private readonly base: string;
  private readonly prefix: string;
  private readonly groupPrefix: string;
  private readonly managed: ReadonlySet<string>;
  private readonly env: Readonly<Record<string, string | undefined>>;
  private readonly doFetch: typeof fetch;
  private readonly pageSize: number;
  private readonly memberBatchSize: number;
  /** Users found in the last seconds, by userName: see ownedForPatch. */
  private readonly recentReads = new Map<string, { user: ScimResource; at: number }>();
  private readonly maxRetryAfterMs: number;
  private readonly maxAttempts: number;
  private readonly timeoutMs: number;
  private provider: Promise<ServiceProvider> | null = null;
  private markerCheck: Promise<void> | null = null;
  private memberFilterHonoured: Promise<boolean | null> | null = null;

  constructor(
    readonly name: string,
    private readonly config: ScimTargetConfig,
    private readonly instance: string,
    options: ScimConnectorOptions = {},
  ) {
    const problems = checkScimAttributePaths(Object.keys(config.attributes));
    if (problems.length > 0) throw new Error(`target ${name}: ${problems.join('; ')}`);
    this.base = config.baseUrl.replace(/\/+$/, '');
    this.prefix = `idflow:${instance}:`;
    this.groupPrefix = `${this.prefix}group:`;
    this.managed = new Set(managedGroups(config));
    this.env = options.env ?? process.env;
    this.doFetch = options.fetch ?? ((...args) => fetch(...args));
    // Large pages: a listing's cost is mostly per request (a no-op reconcile is one listing).
    this.pageSize = Math.max(1, options.pageSize ?? 1000);
    this.memberBatchSize = Math.max(1, options.memberBatchSize ?? 50);
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 30_000;
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 4);
    this.timeoutMs = options.timeoutMs ?? 30_000;
  }

  // ---------------------------------------------------------------- reads

  async findAccount(userName: string): Promise<ActualAccount | null> {
    const user = await this.findUser(userName);
    return user ? this.withGroups(user) : null;
  }

  async findAccountByExternalId(externalId: string): Promise<ActualAccount | null> {
    const user = await this.findUserBy('externalId', this.prefix + externalId);
    return user ? this.withGroups(user) : null;
  }

  async findAccountsByEmployeeId(employeeId: string): Promise<ActualAccount[]> {
    const path = `${SCIM_ENTERPRISE_USER}:employeeNumber`;
    const { items } = await this.list('Users', { filter: `${path} eq ${JSON.stringify(employeeId)}` });
    // A server that ignores the filter returns everyone: only exact matches count.
    const matching = items.filter((u) => prop(prop(u, SCIM_ENTERPRISE_USER), 'employeeNumber') === employeeId);
    return Promise.all(matching.map((u) => this.withGroups(u)));
  }

  /** A user as an account, with the groups it is in. */
  private async withGroups(user: ScimResource): Promise<ActualAccount> {
    return this.toActual(user, await this.groupNamesOf(user));
  }

  async existingGroups(names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const wanted = new Set(names);
    const { items } = await this.list('Groups', { excludedAttributes: 'members' });
    return new Set(items.filter((g) => this.ownsGroup(g) && wanted.has(String(prop(g, 'displayName')))).map((g) => String(prop(g, 'displayName'))));
  }

  /** Users paged, groups (with members) paged: O(pages) requests, whatever the number of users. */
  async readState(): Promise<TargetState> {
    const users = await this.list('Users');
    const groups = await this.list('Groups', { attributes: 'displayName,externalId,members' });
    const memberOf = new Map<string, string[]>();
    const outGroups: ActualGroup[] = [];
    for (const g of groups.items) {
      const name = String(prop(g, 'displayName'));
      const owned = this.ownsGroup(g);
      if (owned || this.managed.has(name)) outGroups.push({ id: g.id!, name, owned });
      for (const m of (prop(g, 'members') as { value?: string }[] | undefined) ?? []) {
        if (!m.value) continue;
        memberOf.set(m.value, [...(memberOf.get(m.value) ?? []), name]);
      }
    }
    const accounts: ActualAccount[] = [];
    let unownedCount = 0;
    for (const u of users.items) {
      if (this.ownsUser(u)) accounts.push(this.toActual(u, memberOf.get(u.id!) ?? []));
      else unownedCount += 1;
    }
    accounts.sort((a, b) => a.userName.localeCompare(b.userName));
    outGroups.sort((a, b) => a.name.localeCompare(b.name));
    return { accounts, groups: outGroups, unownedCount, calls: users.calls + groups.calls };
  }

  // ---------------------------------------------------------------- account writes

  /**
   * Looks up by userName, then by externalId (a renamed account is this identity's and gets the new
   * name); creates only when neither finds one. A 409 adopts the existing record only when it is
   * idflow's for the same identity.
   */
  async createAccount(input: CreateAccountInput): Promise<ActualAccount> {
    const problems = checkScimAttributePaths(Object.keys(input.attributes));
    if (problems.length > 0) throw ApplicationFailure.nonRetryable(`SCIM user ${input.userName}: ${problems.join('; ')}`, TARGET_FAILURE.invalidInput);
    const externalId = this.prefix + input.externalId;
    let existing = input.absentInRead ? null : ((await this.findUser(input.userName)) ?? (await this.findUserBy('externalId', externalId)));
    if (!existing) {
      await this.requireWritableMarker();
      const reply = await this.request('POST', '/Users', { body: toScimUser(input.userName, externalId, input.enabled, input.attributes), accept: [409] });
      if (reply.status !== 409) return this.toActual(await this.requireMarkerKept(reply, externalId, input.userName), []);
      existing = (await this.findUser(input.userName)) ?? (await this.findUserBy('externalId', externalId));
      if (!existing) throw scimFailure(409, reply.body, `POST /Users ${input.userName}`);
    }
    // A record nobody marked (no externalId) may be taken over when the config allows adoption.
    const adopting = input.adopt === true && !this.ownsUser(existing) && !prop(existing, 'externalId');
    if (!adopting) this.checkSameIdentity(existing, input);
    // Ours already (a retry after a crash, or a rename): bring it to what was asked, changed parts only.
    const wanted: Record<string, string> = { ...input.attributes };
    await this.patchUser(existing, (current) => {
      const ops: PatchOperation[] = adopting ? [{ op: 'replace', path: 'externalId', value: externalId }] : [];
      if (String(prop(current, 'userName')) !== input.userName) ops.push({ op: 'replace', path: 'userName', value: input.userName });
      if ((prop(current, 'active') !== false) !== input.enabled) ops.push({ op: 'replace', path: 'active', value: input.enabled });
      const now = fromScimUser(current);
      const changes = Object.entries(wanted).filter(([k, v]) => now[k] !== v).map(([attribute, to]) => ({ attribute, from: now[attribute] ?? null, to }));
      return [...ops, ...scimPatchOperations(current, changes)];
    });
    const actual = await this.findAccount(input.userName);
    if (!actual) throw ApplicationFailure.retryable(`SCIM user ${input.userName} is not readable after create`, TARGET_FAILURE.notFound);
    if (!actual.owned || actual.externalId !== input.externalId) throw this.markerDropped(input.userName, 'kept');
    return actual;
  }

  /**
   * A created user without idflow's marker would never be recognised as idflow's again: leavers would
   * keep access and every reconcile would create it anew. The answer or a read-back must carry it.
   * Otherwise the target is refused; the user is deleted again only when it is surely the one just
   * made: a 201 with an id, this userName, and no externalId of anyone's. A server that answers a
   * create with an existing record (someone else's) gets that record left alone.
   */
  private async requireMarkerKept(reply: Reply, externalId: string, userName: string): Promise<ScimResource> {
    const created = (reply.body && typeof reply.body === 'object' ? reply.body : {}) as ScimResource;
    if (prop(created, 'externalId') === externalId) return created;
    const reread = typeof created.id === 'string' && created.id !== '' ? await this.readUser(created.id) : null;
    if (reread && prop(reread, 'externalId') === externalId) return reread;
    const record = reread ?? created;
    const marker = [prop(created, 'externalId'), prop(reread, 'externalId')].find((v) => v !== undefined && v !== null && v !== '');
    if (marker !== undefined) {
      throw ApplicationFailure.nonRetryable(`SCIM POST /Users ${userName} was answered with a record carrying another externalId (${String(marker).slice(0, 80)}): it is not idflow's, and was left untouched`, TARGET_FAILURE.notOwned);
    }
    const justMade = reply.status === 201 && reread !== null && String(prop(record, 'userName') ?? '').toLowerCase() === userName.toLowerCase();
    if (justMade) await this.request('DELETE', `/Users/${enc(reread.id!)}`, { accept: [404] });
    throw this.markerDropped(userName, justMade ? 'deleted' : 'kept');
  }

  private markerDropped(userName: string, what: 'deleted' | 'kept'): ApplicationFailure {
    return ApplicationFailure.nonRetryable(
      `SCIM target ${this.name}: the server does not store externalId (user ${userName} came back without it); idflow cannot mark ownership${what === 'deleted' ? ', so the user it had just created was deleted again' : ', and nothing was deleted'}. idflow needs a SCIM app that keeps externalId (RFC 7643 §3.1); see docs/targets.md "SCIM compatibility"`,
      TARGET_FAILURE.config,
    );
  }

  /** Where the server publishes its User schema (RFC 7643 §7), an externalId that is not read-write is refused before any write. */
  private requireWritableMarker(): Promise<void> {
    // A server without /Schemas (404, 405, 501, or a 400 for the path) just offers no answer; anything else is asked again later.
    this.markerCheck ??= this.request('GET', `/Schemas/${SCIM_CORE_USER}`, { accept: [400, 404, 405, 501] }).then((reply) => {
      const attrs = reply.status === 200 ? prop(reply.body, 'attributes') : undefined;
      const ext = Array.isArray(attrs) ? (attrs as ScimResource[]).find((a) => String(prop(a, 'name')).toLowerCase() === 'externalid') : undefined;
      const mutability = ext ? prop(ext, 'mutability') : undefined;
      // immutable may still be set on create (RFC 7643 §7); readOnly and writeOnly cannot carry a marker.
      if (mutability === 'readOnly' || mutability === 'writeOnly') {
        throw ApplicationFailure.nonRetryable(`SCIM target ${this.name}: the server's User schema makes externalId ${String(mutability)}, but idflow marks its accounts there and needs it readWrite; see docs/targets.md "SCIM compatibility"`, TARGET_FAILURE.config);
      }
    });
    this.markerCheck.catch(() => (this.markerCheck = null));
    return this.markerCheck;
  }

  /**
   * PATCH replace userName (RFC 7644 §3.5.2.3): the record keeps its id, groups and externalId. The
   * service provider enforces uniqueness (409 uniqueness), which is refused as a conflict.
   */
  async renameAccount(account: AccountRef, newUserName: string): Promise<void> {
    const already = await this.findUser(newUserName);
    if (already && prop(already, 'userName') === newUserName && this.marks(already, account.externalId)) return;
    if (already && !this.marks(already, account.externalId)) {
      throw ApplicationFailure.nonRetryable(`SCIM user ${account.userName} cannot be renamed to ${newUserName}: another record holds that name; nothing was changed`, TARGET_FAILURE.conflict);
    }
    const user = await this.ownedForPatch(account);
    try {
      await this.patchUser(user, (current) => (String(prop(current, 'userName')) === newUserName ? [] : [{ op: 'replace', path: 'userName', value: newUserName }]));
    } catch (err) {
      if (err instanceof ApplicationFailure && err.type === 'SCIM.409') throw ApplicationFailure.nonRetryable(`SCIM user ${account.userName} cannot be renamed to ${newUserName}: ${err.message}`, TARGET_FAILURE.conflict);
      throw err;
    }
    this.recentReads.delete(newUserName);
  }

  /** One PATCH with only the changed attributes, If-Match on the version read. */
  async updateAccount(account: AccountRef, changes: readonly AttributeChange[]): Promise<void> {
    const problems = checkScimAttributePaths(changes.map((c) => c.attribute));
    if (problems.length > 0) throw ApplicationFailure.nonRetryable(`SCIM user ${account.userName}: ${problems.join('; ')}`, TARGET_FAILURE.invalidInput);
    await this.patchUser(await this.ownedForPatch(account), (current) => scimPatchOperations(current, changes));
  }

  async enableAccount(account: AccountRef): Promise<void> {
    await this.patchUser(await this.ownedForPatch(account), (current) => (prop(current, 'active') === false ? [{ op: 'replace', path: 'active', value: true }] : []));
  }

  /**
   * The user a PATCH starts from. With ETags, a read from the last few seconds (the plan's) will do:
   * the PATCH's If-Match proves it is still current, ownership included, and a 412 reads it again.
   * Without ETags, it is read now.
   */
  private async ownedForPatch(account: AccountRef): Promise<ScimResource> {
    const recent = this.recentReads.get(account.userName);
    this.recentReads.delete(account.userName);
    const versioned = recent && typeof prop(prop(recent.user, 'meta'), 'version') === 'string';
    if (recent && versioned && Date.now() - recent.at <= RECENT_READ_MS && (await this.serviceProvider()).etag) {
      this.checkMarked(recent.user, account);
      return recent.user;
    }
    return this.requireOwned(account).catch(goneAsNotFound);
  }

  /** active=false first (the lockout), then membership of idflow's groups; other groups are not idflow's to change. */
  async disableAccount(account: AccountRef): Promise<DisableRecord> {
    const { userName } = account;
    const user = await this.requireOwned(account).catch(goneAsNull);
    this.recentReads.delete(userName);
    if (!user) return { removedGroups: [], deactivatedAccessKeys: [], loginProfileDeleted: false, notes: [`user ${userName} does not exist`] };
    await this.patchUser(user, (current) => (prop(current, 'active') !== false ? [{ op: 'replace', path: 'active', value: false }] : []));
    const removedGroups = await this.leaveOwnedGroups(user.id!);
    return { removedGroups, deactivatedAccessKeys: [], loginProfileDeleted: false };
  }

  async deleteAccount(account: AccountRef): Promise<DeleteRecord> {
    const { userName } = account;
    const user = await this.requireOwned(account).catch(goneAsNull);
    this.recentReads.delete(userName);
    if (!user) return { steps: ['user already gone'] };
    const steps = (await this.leaveOwnedGroups(user.id!)).map((g) => `remove member from group ${g}`);
    let current: ScimResource | null = user;
    for (let attempt = 1; current; attempt++) {
      const reply = await this.request('DELETE', `/Users/${enc(current.id!)}`, { ifMatch: await this.versionOf(current), accept: [404, 412] });
      if (reply.status === 404) {
        steps.push('user already gone');
        break;
      }
      if (reply.status !== 412) {
        steps.push(`DELETE /Users/${current.id}`);
        break;
      }
      if (attempt >= 3) throw scimFailure(412, reply.body, `DELETE /Users/${current.id}`, true);
      current = await this.requireOwned(account).catch(goneAsNull);
    }
    return { steps };
  }

  // ---------------------------------------------------------------- groups

  async createGroup(name: string): Promise<ActualGroup> {
    const existing = await this.findGroup(name);
    if (existing) return this.ownedGroup(existing);
    const reply = await this.request('POST', '/Groups', { body: { schemas: [SCIM_GROUP], displayName: name, externalId: this.groupPrefix + name }, accept: [409] });
    if (reply.status !== 409) return this.settleGroupRace(name, reply.body as ScimResource);
    const now = await this.findGroup(name);
    if (!now) throw scimFailure(409, reply.body, `POST /Groups ${name}`);
    return this.ownedGroup(now);
  }

  async addMember(userName: string, group: string): Promise<void> {
    await this.addMembers(group, [userName]);
  }

  async removeMember(userName: string, group: string): Promise<void> {
    await this.removeMembers(group, [userName]);
  }

  /**
   * PATCH add members, `memberBatchSize` per request. Adding a member twice is a no-op (RFC 7644
   * §3.5.2.1), so a retry is safe. No If-Match: value-level adds and removes cannot lose an update.
   * Members and the group found in `known` are not read again.
   */
  async addMembers(group: string, userNames: readonly string[], known?: KnownState): Promise<void> {
    const groupId = await this.ownedGroupId(group, known);
    if (!groupId) throw ApplicationFailure.nonRetryable(`SCIM group ${group} does not exist`, TARGET_FAILURE.missingGroup);
    const ids: string[] = [];
    for (const userName of userNames) ids.push(await this.ownedUserId(userName, known, true) as string);
    for (const batch of chunks(ids, this.memberBatchSize)) {
      await this.patchGroup(groupId, [{ op: 'add', path: 'members', value: batch.map((value) => ({ value })) }]);
    }
  }

  async removeMembers(group: string, userNames: readonly string[], known?: KnownState): Promise<void> {
    const groupId = await this.ownedGroupId(group, known);
    if (!groupId) return;
    const ids: string[] = [];
    for (const userName of userNames) {
      const id = await this.ownedUserId(userName, known, false);
      if (id) ids.push(id);
    }
    for (const batch of chunks(ids, this.memberBatchSize)) await this.removeFromGroup(groupId, batch);
  }

  private async ownedGroupId(group: string, known: KnownState | undefined): Promise<string | null> {
    const k = known?.groups.get(group);
    if (k?.owned) return k.id;
    const g = await this.findGroup(group);
    if (!g) return null;
    this.checkGroupOwned(g);
    return g.id!;
  }

  /** The user's id, read (and its ownership checked) unless `known` has it; null when gone and `mustExist` is off. */
  private async ownedUserId(userName: string, known: KnownState | undefined, mustExist: boolean): Promise<string | null> {
    const k = known?.accounts.get(userName);
    if (k && !k.owned) throw this.notOwned(userName);
    if (k) return k.id;
    const user = await this.requireOwned({ userName }).catch(mustExist ? goneAsNotFound : goneAsNull);
    return user ? user.id! : null;
  }

  // ---------------------------------------------------------------- helpers: ownership

  private ownsUser(u: ScimResource): boolean {
    const ext = prop(u, 'externalId');
    return typeof ext === 'string' && ext.startsWith(this.prefix) && !ext.startsWith(this.groupPrefix) && ext.length > this.prefix.length;
  }

  private ownsGroup(g: ScimResource): boolean {
    return prop(g, 'externalId') === this.groupPrefix + String(prop(g, 'displayName'));
  }

  private toActual(u: ScimResource, groups: string[]): ActualAccount {
    const ext = prop(u, 'externalId');
    const owned = this.ownsUser(u);
    const employeeNumber = prop(prop(u, SCIM_ENTERPRISE_USER), 'employeeNumber');
    return {
      id: u.id!,
      userName: String(prop(u, 'userName')),
      externalId: typeof ext === 'string' && ext !== '' ? (owned ? ext.slice(this.prefix.length) : ext) : null,
      employeeId: typeof employeeNumber === 'string' ? employeeNumber : null,
      enabled: prop(u, 'active') !== false,
      attributes: fromScimUser(u),
      groups: [...new Set(groups)].sort(),
      owned,
    };
  }

  private checkSameIdentity(existing: ScimResource, input: CreateAccountInput): void {
    const name = String(prop(existing, 'userName'));
    if (!this.ownsUser(existing)) {
      throw ApplicationFailure.nonRetryable(`SCIM user ${name} already exists and is not owned by idflow instance "${this.instance}"; it was left untouched`, TARGET_FAILURE.notOwned);
    }
    const theirs = String(prop(existing, 'externalId')).slice(this.prefix.length);
    if (theirs !== input.externalId) {
      throw ApplicationFailure.nonRetryable(`SCIM user ${name} already exists and belongs to identity ${theirs}; it was left untouched`, TARGET_FAILURE.conflict);
    }
  }

  private ownedGroup(g: ScimResource): ActualGroup {
    this.checkGroupOwned(g);
    return { id: g.id!, name: String(prop(g, 'displayName')), owned: true };
  }

  private checkGroupOwned(g: ScimResource): void {
    if (!this.ownsGroup(g)) {
      throw ApplicationFailure.nonRetryable(`SCIM group ${String(prop(g, 'displayName'))} exists but idflow instance "${this.instance}" does not own it; it will not change it`, TARGET_FAILURE.notOwned);
    }
  }

  /** Every write first proves the user is idflow's and, on a person's behalf, theirs: at the point of change. */
  private async requireOwned(account: { userName: string; externalId?: string }): Promise<ScimResource> {
    const user = await this.findUser(account.userName);
    if (!user) throw new AccountGoneError('SCIM', account.userName);
    this.checkMarked(user, account);
    return user;
  }

  private checkMarked(user: ScimResource, account: { userName: string; externalId?: string }): void {
    if (!this.ownsUser(user)) throw this.notOwned(account.userName);
    if (account.externalId !== undefined && !this.marks(user, account.externalId)) {
      throw ApplicationFailure.nonRetryable(`SCIM user ${account.userName} belongs to identity ${String(prop(user, 'externalId')).slice(this.prefix.length)}, not ${account.externalId}; refusing to modify it`, TARGET_FAILURE.conflict);
    }
  }

  private marks(user: ScimResource, externalId: string): boolean {
    return this.ownsUser(user) && prop(user, 'externalId') === this.prefix + externalId;
  }

  private notOwned(userName: string): ApplicationFailure {
    return ApplicationFailure.nonRetryable(`SCIM user ${userName} is not owned by idflow instance "${this.instance}"; refusing to modify it`, TARGET_FAILURE.notOwned);
  }

  // ---------------------------------------------------------------- helpers: resources

  private async findUser(userName: string): Promise<ScimResource | null> {
    const { items } = await this.list('Users', { filter: `userName eq ${JSON.stringify(userName)}` });
    // Only a match counts, never "the first item": a server that ignores the filter answers everyone.
    // userName is caseExact=false (RFC 7643 §4.1.1): the exact spelling first, then one differing only by case.
    const lower = userName.toLowerCase();
    const user = items.find((u) => prop(u, 'userName') === userName) ?? items.find((u) => String(prop(u, 'userName')).toLowerCase() === lower) ?? null;
    this.rememberRead(userName, user);
    return user;
  }

  private rememberRead(userName: string, user: ScimResource | null): void {
    if (this.recentReads.size >= RECENT_READS_MAX) {
      for (const [name, r] of this.recentReads) if (Date.now() - r.at > RECENT_READ_MS) this.recentReads.delete(name);
      if (this.recentReads.size >= RECENT_READS_MAX) this.recentReads.clear();
    }
    if (user) this.recentReads.set(userName, { user, at: Date.now() });
    else this.recentReads.delete(userName);
  }

  private async findUserBy(attribute: 'externalId', value: string): Promise<ScimResource | null> {
    const { items } = await this.list('Users', { filter: `${attribute} eq ${JSON.stringify(value)}` });
    return items.find((u) => prop(u, attribute) === value) ?? null;
  }

  /**
   * The group of this name: idflow's oldest when there are several. SCIM does not make displayName
   * unique, so two writers that both found no group may both have created one; every writer then
   * picks the same one.
   */
  private async findGroup(name: string): Promise<ScimResource | null> {
    const { named, owned } = await this.groupsNamed(name);
    return owned[0] ?? named[0] ?? null;
  }

  /** The server's answer for this displayName; of it, the exact matches, and idflow's of those, oldest first. */
  private async groupsNamed(name: string): Promise<{ items: ScimResource[]; named: ScimResource[]; owned: ScimResource[] }> {
    const { items } = await this.list('Groups', { filter: `displayName eq ${JSON.stringify(name)}`, excludedAttributes: 'members' });
    // displayName is caseExact false (RFC 7643 §4.2): the exact spelling first, else one differing only by case.
    const exact = items.filter((g) => prop(g, 'displayName') === name);
    const named = exact.length > 0 ? exact : items.filter((g) => String(prop(g, 'displayName') ?? '').toLowerCase() === name.toLowerCase());
    return { items, named, owned: named.filter((g) => this.ownsGroup(g)).sort(oldestFirst) };
  }

  /**
   * After a create: if another writer created the same group (two idflow deployments on one app; one
   * deployment creates each group in one place), keep the oldest, delete the rest, return the one kept.
   */
  private async settleGroupRace(name: string, created: ScimResource): Promise<ActualGroup> {
    const { owned } = await this.groupsNamed(name);
    // Members added to a deleted twin meanwhile are re-added by verify's next plan.
    for (const twin of owned.slice(1)) await this.request('DELETE', `/Groups/${twin.id}`, { accept: [404] });
    return { id: owned[0]?.id ?? created.id!, name, owned: true };
  }

  /**
   * The groups a user is in. The members filter is the cheap question, but servers answer it badly (a
   * 400 when any group is empty) or not at all (everyone's groups). It is used only once a probe for a
   * member nobody is showed the server honours it; otherwise, and after a 400, every group is read
   * with its members and matched here. Members a server sends anyway are checked too.
   */
  private async groupsOf(userId: string): Promise<ScimResource[]> {
    const isMember = (g: ScimResource) => ((prop(g, 'members') as { value?: string }[] | undefined) ?? []).some((m) => m.value === userId);
    if (await this.membershipFilterWorks()) {
      try {
        const { items } = await this.list('Groups', { filter: memberFilter(userId), attributes: 'displayName,externalId' });
        return items.filter((g) => prop(g, 'members') === undefined || isMember(g));
      } catch (err) {
        if (!isScimError(err, 400)) throw err;
        this.memberFilterHonoured = Promise.resolve(false);
      }
    }
    const { items } = await this.list('Groups', { attributes: 'displayName,externalId,members' });
    return items.filter(isMember);
  }

  /** Whether the server answers `members[value eq …]` truly: asked once, for an id no user has. */
  private async membershipFilterWorks(): Promise<boolean> {
    if (!(await this.serviceProvider()).filter) return false;
    this.memberFilterHonoured ??= this.probeMemberFilter().catch((err: unknown) => {
      this.memberFilterHonoured = null;
      throw err;
    });
    const honoured = await this.memberFilterHonoured;
    // No groups yet proves nothing (an ignored filter answers nothing too): asked again once there are some.
    if (honoured === null) this.memberFilterHonoured = null;
    return honoured === true;
  }

  /** True: the filter answered no group for an id no user has, while groups exist; null: no groups to tell by. */
  private async probeMemberFilter(): Promise<boolean | null> {
    const any = await this.request('GET', '/Groups', { query: { count: '1', attributes: 'displayName' } });
    const page = (any.body ?? {}) as ListResponse;
    if ((page.Resources ?? []).length === 0 && !(typeof page.totalResults === 'number' && page.totalResults > 0)) return null;
    try {
      const reply = await this.request('GET', '/Groups', { query: { filter: memberFilter(randomUUID()), attributes: 'displayName', count: '1' } });
      return ((reply.body ?? {}) as ListResponse).Resources?.length === 0;
    } catch (err) {
      if (isScimError(err, 400)) return false;
      throw err;
    }
  }

  /** The names of a user's groups: from the User's own `groups` (RFC 7643 §4.1.2) where the server fills it, else asked. */
  private async groupNamesOf(user: ScimResource): Promise<string[]> {
    const listed = prop(user, 'groups');
    // Trusted only when it says something: an empty list may be a server that never fills it. Indirect
    // entries (through a nested group) are not memberships idflow could add or remove.
    const direct = Array.isArray(listed) ? listed.filter((g) => String(prop(g, 'type') ?? 'direct').toLowerCase() !== 'indirect') : [];
    if (direct.length > 0 && direct.every((g) => typeof prop(g, 'display') === 'string')) return direct.map((g) => String(prop(g, 'display')));
    return (await this.groupsOf(user.id!)).map((g) => String(prop(g, 'displayName')));
  }

  private async leaveOwnedGroups(userId: string): Promise<string[]> {
    const removed: string[] = [];
    for (const g of await this.groupsOf(userId)) {
      if (!this.ownsGroup(g)) continue;
      await this.removeFromGroup(g.id!, [userId]);
      removed.push(String(prop(g, 'displayName')));
    }
    return removed.sort();
  }

  private async removeFromGroup(groupId: string, userIds: readonly string[]): Promise<void> {
    const filter = userIds.map((id) => `value eq ${JSON.stringify(id)}`).join(' or ');
    try {
      await this.patchGroup(groupId, [{ op: 'remove', path: `members[${filter}]` }]);
    } catch (err) {
      // Nothing matched the filter: already not members.
      if (isScimError(err, 400, 'noTarget')) return;
      throw err;
    }
  }

  private async patchGroup(groupId: string, ops: PatchOperation[]): Promise<void> {
    await this.requirePatch();
    await this.request('PATCH', `/Groups/${enc(groupId)}`, { body: { schemas: [SCIM_PATCH_OP], Operations: ops } });
  }

  /**
   * PATCH a user with operations computed from its current state, If-Match on its version when the
   * server supports ETags; a 412 (changed meanwhile) re-reads and recomputes, at most 3 times.
   */
  private async patchUser(user: ScimResource, build: (current: ScimResource) => PatchOperation[]): Promise<void> {
    // Whatever happens next, a read from before this write must not seed another one.
    this.recentReads.delete(String(prop(user, 'userName')));
    let current = user;
    for (let attempt = 1; ; attempt++) {
      const ops = build(current);
      if (ops.length === 0) return;
      await this.requirePatch();
      const reply = await this.request('PATCH', `/Users/${enc(current.id!)}`, { body: { schemas: [SCIM_PATCH_OP], Operations: ops }, ifMatch: await this.versionOf(current), accept: [412] });
      if (reply.status !== 412) return;
      if (attempt >= 3) throw scimFailure(412, reply.body, `PATCH /Users/${current.id}`, true);
      const reread = await this.readUser(current.id!);
      if (!reread) throw ApplicationFailure.retryable(`SCIM user ${current.id} disappeared during an update`, TARGET_FAILURE.notFound);
      if (!this.ownsUser(reread)) throw ApplicationFailure.nonRetryable(`SCIM user ${current.id} is no longer owned by idflow; refusing to modify it`, TARGET_FAILURE.notOwned);
      current = reread;
    }
  }

  private async readUser(id: string): Promise<ScimResource | null> {
    const reply = await this.request('GET', `/Users/${enc(id)}`, { accept: [404] });
    return reply.status === 404 ? null : (reply.body as ScimResource);
  }

  private async versionOf(resource: ScimResource): Promise<string | undefined> {
    if (!(await this.serviceProvider()).etag) return undefined;
    const version = prop(prop(resource, 'meta'), 'version');
    return typeof version === 'string' ? version : undefined;
  }

  private async requirePatch(): Promise<void> {
    if (!(await this.serviceProvider()).patch) {
      throw ApplicationFailure.nonRetryable(`SCIM target ${this.name} does not support PATCH (ServiceProviderConfig); idflow needs it`, 'SCIM.unsupported');
    }
  }

  /** /ServiceProviderConfig, read once: ETag support, PATCH support, the page size cap. */
  private serviceProvider(): Promise<ServiceProvider> {
    this.provider ??= this.request('GET', '/ServiceProviderConfig', { accept: [404, 501] }).then(
      (reply) => {
        if (reply.status !== 200) return { etag: false, patch: true, filter: true, maxResults: null };
        const b = reply.body;
        const max = prop(prop(b, 'filter'), 'maxResults');
        return {
          etag: prop(prop(b, 'etag'), 'supported') === true,
          patch: prop(prop(b, 'patch'), 'supported') !== false,
          filter: prop(prop(b, 'filter'), 'supported') !== false,
          maxResults: typeof max === 'number' && max > 0 ? max : null,
        };
      },
      (err) => {
        this.provider = null;
        throw err;
      },
    );
    return this.provider;
  }

  /** startIndex/count paging until totalResults, or an empty page; never trusts itemsPerPage == count. */
  private async list(resource: 'Users' | 'Groups', params: Record<string, string> = {}): Promise<{ items: ScimResource[]; calls: number }> {
    const sp = await this.serviceProvider();
    const count = Math.min(this.pageSize, sp.maxResults ?? this.pageSize);
    // A server without filtering is read whole; every caller matches what it asked for itself.
    const { filter, ...rest } = params;
    const query = sp.filter && filter !== undefined ? { ...rest, filter } : rest;
    const byId = new Map<string, ScimResource>();
    let startIndex = 1;
    let calls = 0;
    for (;;) {
      const reply = await this.request('GET', `/${resource}`, { query: { ...query, startIndex: String(startIndex), count: String(count) } });
      calls += 1;
      const page = (reply.body ?? {}) as ListResponse;
      const got = page.Resources ?? [];
      const before = byId.size;
      for (const r of got) {
        // A resource without an id cannot be told apart from another: kept, under a key of its own.
        const key = typeof r.id === 'string' && r.id !== '' ? r.id : `\u0000${startIndex}:${byId.size}`;
        if (!byId.has(key)) byId.set(key, r);
      }
      const total = typeof page.totalResults === 'number' ? page.totalResults : byId.size;
      // totalResults is a claim, not a bound: a page that brings nothing new ends the listing too.
      if (got.length === 0 || byId.size === before || startIndex - 1 + got.length >= total) break;
      startIndex += got.length;
    }
    return { items: [...byId.values()], calls };
  }

  // ---------------------------------------------------------------- helpers: HTTP

  private token(): string {
    const t = this.env[this.config.tokenEnv];
    if (!t) throw ApplicationFailure.nonRetryable(`the SCIM bearer token for target ${this.name} is missing: set the environment variable ${this.config.tokenEnv}`, TARGET_FAILURE.config);
    return t;
  }

  /**
   * One SCIM request. 429 and 503 are retried here after Retry-After (or a backoff) when that is at
   * most maxRetryAfterMs; otherwise they become retryable failures carrying the delay for Temporal.
   * Statuses in `accept` are returned to the caller; other non-2xx become failures (scimFailure).
   */
  private async request(method: string, path: string, opts: { query?: Record<string, string>; body?: unknown; ifMatch?: string; accept?: number[] } = {}): Promise<Reply> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { Accept: 'application/scim+json, application/json', Authorization: `Bearer ${this.token()}` };
    if (opts.body !== undefined) headers['Content-Type'] = 'application/scim+json';
    if (opts.ifMatch) headers['If-Match'] = opts.ifMatch;
    const what = `${method} ${path}`;
    for (let attempt = 1; ; attempt++) {
      let res: Response;
      try {
        res = await this.doFetch(url, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.timeout(this.timeoutMs) });
      } catch (err) {
        throw ApplicationFailure.retryable(`SCIM ${what} failed: ${(err as Error).name}: ${(err as Error).message}`, 'SCIM.network');
      }
      const text = await res.text();
      let body: unknown = null;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      if (res.status === 429 || res.status === 503) {
        const wait = retryAfterMs(res.headers.get('retry-after')) ?? Math.min(this.maxRetryAfterMs, 500 * 2 ** (attempt - 1));
        if (attempt < this.maxAttempts && wait <= this.maxRetryAfterMs) {
          await new Promise((r) => setTimeout(r, wait));
          continue;
        }
        throw scimFailure(res.status, body, what, true, wait);
      }
      if ((res.status >= 200 && res.status < 300) || opts.accept?.includes(res.status)) return { status: res.status, body, etag: res.headers.get('etag') };
      throw scimFailure(res.status, body, what);
    }
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/** Oldest first by meta.created, then by id: every writer orders twins the same way. */
function oldestFirst(a: ScimResource, b: ScimResource): number {
  const created = (r: ScimResource) => String((prop(r, 'meta') as { created?: string } | undefined)?.created ?? '');
  return created(a).localeCompare(created(b)) || String(a.id).localeCompare(String(b.id));
}
