/**
 * In-memory directory: users, groups, memberships, and the append-only change log that delta queries read.
 * Every write goes through here (admin API and in-process tests alike), so every change shows up in delta.
 */
import { randomUUID } from 'node:crypto';
import { badRequest, GraphFailure, notFound } from './errors';
import { GROUP_PROPS, PropDef, USER_PROPS } from './schema';
import { SeedData } from './seed';
import { GUID_RE, isPlainObject, Json, JsonObject } from './util';

export interface UserRec {
  type: 'user';
  id: string;
  /** Creation order; lists and initial delta rounds page by it. */
  seq: number;
  props: JsonObject;
  managerId: string | null;
  /** Set while soft-deleted (in the recycle bin). */
  deletedAt: string | null;
  /** Graph's reads other than delta miss the user until then (replication lag); delta has them at once. */
  visibleAt?: number;
}
export interface GroupRec {
  type: 'group';
  id: string;
  seq: number;
  props: JsonObject;
  /** Direct member ids in insertion order (users, including soft-deleted ones, and groups). */
  members: Set<string>;
  deletedAt: string | null;
}
export type DirObject = UserRec | GroupRec;
/** Directory objects that can be group members (and an org contact a manager) but are neither users nor groups. */
export type OtherType = 'servicePrincipal' | 'device' | 'orgContact';
export interface OtherRec {
  type: OtherType;
  id: string;
  seq: number;
  /** displayName only: nothing reads more of them. */
  props: JsonObject;
  deletedAt: null;
}
/** What a group's members and a user's manager can be. */
export type MemberObject = DirObject | OtherRec;

export type Change =
  | { pos: number; kind: 'user'; id: string; op: 'create' | 'update' | 'softDelete' | 'restore' | 'hardDelete'; props?: string[] }
  | { pos: number; kind: 'group'; id: string; op: 'create' | 'update' | 'delete'; props?: string[] }
  | { pos: number; kind: 'member'; groupId: string; memberId: string; memberType: MemberObject['type']; op: 'add' | 'remove' };

type ChangeInput = Change extends infer C ? (C extends Change ? Omit<C, 'pos'> : never) : never;

/** Delta behaviour Graph documents and a client must survive, off by default (POST /_admin/delta/quirks). */
export interface DeltaQuirks {
  /** Every change entry of a round comes again at its end; a removed user's replay is as they were before. */
  replay: boolean;
  /** A change round's entries in no particular order. */
  shuffle: boolean;
  /** An empty page with a nextLink before every page. */
  emptyPages: boolean;
}

export interface DirectoryOptions {
  /** How many change-log entries are kept; delta tokens pointing before the oldest kept entry get 410. Default 100000. */
  changeLogRetention?: number;
  /** Domains accepted in userPrincipalName by createUser/updateUser (besides those in the seed). */
  verifiedDomains?: string[];
}

const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Seed props are flat (primitives, string arrays, small objects): a cheap clone beats structuredClone at 10k users. */
function cloneProps(p: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const k in p) {
    const v = p[k]!;
    if (v === null || typeof v !== 'object') out[k] = v;
    else if (Array.isArray(v) && v.every((x) => x === null || typeof x !== 'object')) out[k] = v.slice();
    else out[k] = JSON.parse(JSON.stringify(v)) as Json;
  }
  return out;
}

function sameJson(a: Json | undefined, b: Json | undefined): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export class Directory {
  readonly users = new Map<string, UserRec>();
  readonly groups = new Map<string, GroupRec>();
  readonly others = new Map<string, OtherRec>();
  private userOrder: UserRec[] = [];
  private groupOrder: GroupRec[] = [];
  private upnIndex = new Map<string, UserRec>();
  /** member id -> ids of groups it is a direct member of */
  private parents = new Map<string, Set<string>>();
  private nextSeq = 1;
  private log: Change[] = [];
  private logBase = 0;
  private retention: number;
  private domains: Set<string>;
  /** Changes on reset; delta/skip tokens from another instance are rejected. */
  instanceId = randomUUID();
  private clockOffsetMs = 0;
  /** Bumped by expireDeltaTokens(): tokens issued before answer 410. */
  epoch = 0;
  deltaQuirks: DeltaQuirks = { replay: false, shuffle: false, emptyPages: false };
  /** How long a created, changed or restored user stays out of Graph's reads other than delta (POST /_admin/replication). */
  replicationDelayMs = 0;
  private transitiveMembersCache = new Map<string, MemberObject[]>();
  private transitiveMemberOfCache = new Map<string, GroupRec[]>();

  constructor(
    private readonly seed: SeedData,
    opts: DirectoryOptions = {},
  ) {
    this.retention = Math.max(1, opts.changeLogRetention ?? 100_000);
    this.domains = new Set((opts.verifiedDomains ?? ['contoso.example']).map((d) => d.toLowerCase()));
    for (const u of seed.users) {
      const d = String(u.props.userPrincipalName ?? '').split('@')[1];
      if (d) this.domains.add(d.toLowerCase());
    }
    this.load();
  }

  /** Back to the seed: objects, memberships, empty change log, new instance id (old delta tokens answer 410). */
  reset(): void {
    this.clockOffsetMs = 0;
    this.deltaQuirks = { replay: false, shuffle: false, emptyPages: false };
    this.replicationDelayMs = 0;
    this.users.clear();
    this.groups.clear();
    this.others.clear();
    this.userOrder = [];
    this.groupOrder = [];
    this.upnIndex.clear();
    this.parents.clear();
    this.nextSeq = 1;
    this.logBase += this.log.length;
    this.log = [];
    this.instanceId = randomUUID();
    this.invalidate();
    this.load();
  }

  private load(): void {
    for (const su of this.seed.users) {
      const u: UserRec = { type: 'user', id: su.id, seq: this.nextSeq++, props: cloneProps(su.props), managerId: su.managerId, deletedAt: null };
      this.users.set(u.id, u);
      this.userOrder.push(u);
      this.upnIndex.set(String(u.props.userPrincipalName).toLowerCase(), u);
    }
    for (const so of this.seed.others ?? []) this.others.set(so.id, { type: so.type, id: so.id, seq: this.nextSeq++, props: { displayName: so.displayName }, deletedAt: null });
    for (const sg of this.seed.groups) {
      const g: GroupRec = { type: 'group', id: sg.id, seq: this.nextSeq++, props: cloneProps(sg.props), members: new Set(), deletedAt: null };
      this.groups.set(g.id, g);
      this.groupOrder.push(g);
    }
    for (const sg of this.seed.groups) {
      const g = this.groups.get(sg.id)!;
      for (const m of sg.members) {
        g.members.add(m);
        this.parentSet(m).add(g.id);
      }
    }
  }

  private parentSet(id: string): Set<string> {
    let s = this.parents.get(id);
    if (!s) this.parents.set(id, (s = new Set()));
    return s;
  }

  private invalidate(): void {
    this.transitiveMembersCache.clear();
    this.transitiveMemberOfCache.clear();
  }

  private record(c: ChangeInput): void {
    this.log.push({ ...c, pos: this.logBase + this.log.length } as Change);
    if (this.log.length > this.retention + (this.retention >> 3)) {
      const drop = this.log.length - this.retention;
      this.log.splice(0, drop);
      this.logBase += drop;
    }
  }

  // ------------------------------------------------------------------ change log

  /** Position after the newest change (a delta token taken now points here). */
  get position(): number {
    return this.logBase + this.log.length;
  }
  /** Oldest position a delta token may still point at. */
  get oldestPosition(): number {
    return this.logBase;
  }
  /** Changes with from <= pos < to. */
  changesBetween(from: number, to: number): Change[] {
    const a = Math.max(0, from - this.logBase);
    const b = Math.max(a, to - this.logBase);
    return this.log.slice(a, b);
  }
  /** Every delta token issued so far answers 410 Gone from now on. */
  expireDeltaTokens(): void {
    this.epoch++;
  }

  /** The directory's clock, which delta tokens are stamped and aged with. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Lets time pass for delta tokens: those issued more than their duration ago answer syncStateNotFound. */
  ageDeltaTokens(seconds: number): void {
    this.clockOffsetMs += seconds * 1000;
  }

  // ------------------------------------------------------------------ reads

  /** All users in creation order, including soft-deleted ones (check deletedAt). */
  orderedUsers(): readonly UserRec[] {
    return this.userOrder;
  }
  orderedGroups(): readonly GroupRec[] {
    return this.groupOrder;
  }
  /** A live user by object id or userPrincipalName (case-insensitive). */
  getUser(idOrUpn: string, opts: { includeDeleted?: boolean } = {}): UserRec | undefined {
    const u = this.users.get(idOrUpn.toLowerCase()) ?? this.upnIndex.get(idOrUpn.toLowerCase());
    if (!u || (u.deletedAt && !opts.includeDeleted)) return undefined;
    return u;
  }
  getGroup(id: string): GroupRec | undefined {
    const g = this.groups.get(id.toLowerCase());
    return g && !g.deletedAt ? g : undefined;
  }
  getObject(id: string): DirObject | undefined {
    return this.getUser(id) ?? this.getGroup(id);
  }
  /** A user, group, service principal, device or org contact. */
  getMember(id: string): MemberObject | undefined {
    return this.getObject(id) ?? this.others.get(id.toLowerCase());
  }
  userByEmployeeId(employeeId: string): UserRec | undefined {
    return this.userOrder.find((u) => !u.deletedAt && u.props.employeeId === employeeId);
  }
  groupByName(displayName: string): GroupRec | undefined {
    return this.groupOrder.find((g) => !g.deletedAt && g.props.displayName === displayName);
  }
  liveUsers(): UserRec[] {
    return this.userOrder.filter((u) => !u.deletedAt);
  }
  deletedUsers(): UserRec[] {
    return this.userOrder.filter((u) => u.deletedAt);
  }
  private visible(id: string): MemberObject | undefined {
    return this.getMember(id);
  }
  directMembers(groupId: string): MemberObject[] {
    const g = this.getGroup(groupId);
    if (!g) return [];
    const out: MemberObject[] = [];
    for (const m of g.members) {
      const o = this.visible(m);
      if (o) out.push(o);
    }
    return out;
  }
  /** Members reachable through nested groups (each once, breadth first; cycles are safe). */
  transitiveMembers(groupId: string): MemberObject[] {
    const g = this.getGroup(groupId);
    if (!g) return [];
    const hit = this.transitiveMembersCache.get(g.id);
    if (hit) return hit;
    const seen = new Set<string>([g.id]);
    const out: MemberObject[] = [];
    const queue: GroupRec[] = [g];
    while (queue.length > 0) {
      const cur = queue.shift()!;
      for (const m of cur.members) {
        if (seen.has(m)) continue;
        seen.add(m);
        const o = this.visible(m);
        if (!o) continue;
        out.push(o);
        if (o.type === 'group') queue.push(o);
      }
    }
    this.transitiveMembersCache.set(g.id, out);
    return out;
  }
  memberOf(id: string): GroupRec[] {
    const out: GroupRec[] = [];
    for (const gid of this.parents.get(id.toLowerCase()) ?? []) {
      const g = this.getGroup(gid);
      if (g) out.push(g);
    }
    return out;
  }
  transitiveMemberOf(id: string): GroupRec[] {
    const key = id.toLowerCase();
    const hit = this.transitiveMemberOfCache.get(key);
    if (hit) return hit;
    const seen = new Set<string>([key]);
    const out: GroupRec[] = [];
    const queue = [key];
    while (queue.length > 0) {
      const cur = queue.shift()!;
      for (const gid of this.parents.get(cur) ?? []) {
        if (seen.has(gid)) continue;
        seen.add(gid);
        const g = this.getGroup(gid);
        if (!g) continue;
        out.push(g);
        queue.push(g.id);
      }
    }
    this.transitiveMemberOfCache.set(key, out);
    return out;
  }
  /** A user, or an org contact (Entra allows one as a manager). */
  manager(userId: string): UserRec | OtherRec | undefined {
    const u = this.getUser(userId);
    if (!u?.managerId) return undefined;
    return this.getUser(u.managerId) ?? this.contact(u.managerId);
  }
  private contact(id: string): OtherRec | undefined {
    const o = this.others.get(id.toLowerCase());
    return o?.type === 'orgContact' ? o : undefined;
  }
  directReports(userId: string): UserRec[] {
    const u = this.getUser(userId);
    if (!u) return [];
    return this.userOrder.filter((r) => !r.deletedAt && r.managerId === u.id);
  }
  stats(): { users: number; deletedUsers: number; groups: number; memberships: number; position: number; oldestPosition: number; epoch: number } {
    let deleted = 0;
    for (const u of this.userOrder) if (u.deletedAt) deleted++;
    let memberships = 0;
    for (const g of this.groupOrder) memberships += g.members.size;
    return { users: this.userOrder.length - deleted, deletedUsers: deleted, groups: this.groupOrder.length, memberships, position: this.position, oldestPosition: this.oldestPosition, epoch: this.epoch };
  }

  // ------------------------------------------------------------------ writes

  private checkProps(type: 'user' | 'group', input: Record<string, unknown>, creating: boolean): JsonObject {
    const defs = type === 'user' ? USER_PROPS : GROUP_PROPS;
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(input)) {
      if (k === 'id' || k === 'managerId' || k === 'members' || k.includes('@')) continue;
      const def: PropDef | undefined = defs.get(k.toLowerCase());
      if (!def) throw badRequest(`Invalid property '${k}'.`);
      if (def.name === 'deletedDateTime' || (def.name === 'createdDateTime' && !creating)) throw badRequest(`Property '${def.name}' is read-only and cannot be set.`);
      if (v !== null) {
        const ok =
          def.kind === 'string' ? typeof v === 'string'
          : def.kind === 'boolean' ? typeof v === 'boolean'
          : def.kind === 'number' ? typeof v === 'number'
          : def.kind === 'dateTime' ? typeof v === 'string' && !Number.isNaN(Date.parse(v))
          : def.kind === 'stringArray' ? Array.isArray(v) && v.every((x) => typeof x === 'string')
          : def.kind === 'array' ? Array.isArray(v)
          : isPlainObject(v);
        if (!ok) throw badRequest(`Invalid value for property '${def.name}'.`);
      }
      if (def.writeOnly) continue;
      out[def.name] = v as Json;
    }
    return out;
  }

  private checkUpn(upn: Json | undefined, self?: UserRec): void {
    if (typeof upn !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(upn)) throw badRequest("Invalid value specified for property 'userPrincipalName' of resource 'User'.");
    if (!this.domains.has(upn.split('@')[1]!.toLowerCase()))
      throw badRequest('The domain portion of the userPrincipalName property is invalid. You must use one of the verified domain names in your organization.');
    const other = this.upnIndex.get(upn.toLowerCase());
    if (other && other !== self) throw badRequest('Another object with the same value for property userPrincipalName already exists.');
  }

  private resolveManager(managerId: unknown, self?: string): string | null {
    if (managerId === null) return null;
    if (typeof managerId !== 'string') throw badRequest("Invalid value for property 'managerId'.");
    const m = this.getUser(managerId) ?? this.contact(managerId);
    if (!m) throw notFound(managerId);
    if (m.id === self) throw badRequest('A user cannot be their own manager.');
    return m.id;
  }

  /** Create a user (Graph user body; plus `managerId`, an admin-API extension). */
  createUser(input: Record<string, unknown>): UserRec {
    const props = this.checkProps('user', input, true);
    if (typeof props.displayName !== 'string' || props.displayName === '') throw badRequest("Property 'displayName' is required.", 'Request_BadRequest');
    this.checkUpn(props.userPrincipalName);
    let id: string = randomUUID();
    if (input.id !== undefined) {
      if (typeof input.id !== 'string' || !GUID_RE.test(input.id)) throw badRequest("Invalid value for property 'id'.");
      id = input.id.toLowerCase();
      if (this.users.has(id) || this.groups.has(id)) throw badRequest(`Another object with the same value for property id already exists.`);
    }
    const upn = props.userPrincipalName as string;
    const full: JsonObject = {
      accountEnabled: true,
      businessPhones: [],
      createdDateTime: nowIso(),
      mailNickname: upn.split('@')[0]!,
      userType: 'Member',
      ...props,
    };
    const managerId = input.managerId !== undefined ? this.resolveManager(input.managerId) : null;
    const u: UserRec = { type: 'user', id, seq: this.nextSeq++, props: full, managerId, deletedAt: null };
    this.replicating(u);
    this.users.set(id, u);
    this.userOrder.push(u);
    this.upnIndex.set(upn.toLowerCase(), u);
    this.record({ kind: 'user', id, op: 'create' });
    return u;
  }

  /** PATCH semantics: listed properties are replaced, `null` clears. Returns the changed property names. */
  updateUser(id: string, patch: Record<string, unknown>): string[] {
    const u = this.getUser(id);
    if (!u) throw notFound(id);
    const props = this.checkProps('user', patch, false);
    if ('userPrincipalName' in props) this.checkUpn(props.userPrincipalName, u);
    const changed: string[] = [];
    for (const [k, v] of Object.entries(props)) {
      if (sameJson(u.props[k], v)) continue;
      if (k === 'userPrincipalName') {
        this.upnIndex.delete(String(u.props.userPrincipalName).toLowerCase());
        this.upnIndex.set(String(v).toLowerCase(), u);
      }
      u.props[k] = v;
      changed.push(k);
    }
    if (patch.managerId !== undefined) {
      const m = this.resolveManager(patch.managerId, u.id);
      if (m !== u.managerId) {
        u.managerId = m;
        changed.push('manager');
      }
    }
    if (changed.length > 0) {
      this.record({ kind: 'user', id: u.id, op: 'update', props: changed });
      this.replicating(u);
    }
    return changed;
  }

  /** Whether Graph's reads other than delta see the user yet. */
  replicated(u: UserRec): boolean {
    return u.visibleAt === undefined || u.visibleAt <= this.now();
  }
  private replicating(u: UserRec): void {
    if (this.replicationDelayMs > 0) u.visibleAt = this.now() + this.replicationDelayMs;
  }

  setManager(userId: string, managerId: string | null): void {
    this.updateUser(userId, { managerId });
  }

  /** Soft delete (recycle bin, restorable) or hard delete (permanent; also for users already in the bin). */
  deleteUser(id: string, opts: { hard?: boolean } = {}): void {
    const u = this.getUser(id, { includeDeleted: !!opts.hard });
    if (!u) throw notFound(id);
    const wasLive = !u.deletedAt;
    if (wasLive) {
      for (const gid of this.parents.get(u.id) ?? []) if (this.getGroup(gid)) this.record({ kind: 'member', groupId: gid, memberId: u.id, memberType: 'user', op: 'remove' });
    }
    if (!opts.hard) {
      u.deletedAt = nowIso();
      u.props.deletedDateTime = u.deletedAt;
      this.record({ kind: 'user', id: u.id, op: 'softDelete' });
      this.invalidate();
      return;
    }
    for (const gid of this.parents.get(u.id) ?? []) this.groups.get(gid)?.members.delete(u.id);
    this.parents.delete(u.id);
    this.users.delete(u.id);
    this.userOrder.splice(this.userOrder.indexOf(u), 1);
    this.upnIndex.delete(String(u.props.userPrincipalName).toLowerCase());
    for (const r of this.userOrder) {
      if (r.managerId === u.id) {
        r.managerId = null;
        if (!r.deletedAt) this.record({ kind: 'user', id: r.id, op: 'update', props: ['manager'] });
      }
    }
    this.record({ kind: 'user', id: u.id, op: 'hardDelete' });
    this.invalidate();
  }

  restoreUser(id: string): UserRec {
    const u = this.users.get(id.toLowerCase());
    if (!u || !u.deletedAt) throw notFound(id);
    u.deletedAt = null;
    delete u.props.deletedDateTime;
    this.replicating(u);
    this.record({ kind: 'user', id: u.id, op: 'restore' });
    for (const gid of this.parents.get(u.id) ?? []) if (this.getGroup(gid)) this.record({ kind: 'member', groupId: gid, memberId: u.id, memberType: 'user', op: 'add' });
    this.invalidate();
    return u;
  }

  createGroup(input: Record<string, unknown>): GroupRec {
    const props = this.checkProps('group', input, true);
    if (typeof props.displayName !== 'string' || props.displayName === '') throw badRequest("Property 'displayName' is required.");
    let id: string = randomUUID();
    if (input.id !== undefined) {
      if (typeof input.id !== 'string' || !GUID_RE.test(input.id)) throw badRequest("Invalid value for property 'id'.");
      id = input.id.toLowerCase();
      if (this.users.has(id) || this.groups.has(id)) throw badRequest('Another object with the same value for property id already exists.');
    }
    const unified = Array.isArray(props.groupTypes) && props.groupTypes.includes('Unified');
    const g: GroupRec = {
      type: 'group',
      id,
      seq: this.nextSeq++,
      props: {
        createdDateTime: nowIso(),
        groupTypes: [],
        mailEnabled: unified,
        securityEnabled: !unified,
        mailNickname: (props.displayName as string).toLowerCase().replace(/[^a-z0-9]+/g, '-'),
        ...props,
      },
      members: new Set(),
      deletedAt: null,
    };
    this.groups.set(id, g);
    this.groupOrder.push(g);
    this.record({ kind: 'group', id, op: 'create' });
    if (input.members !== undefined) {
      if (!Array.isArray(input.members)) throw badRequest("Invalid value for property 'members'.");
      for (const m of input.members) this.addMember(id, String(m));
    }
    return g;
  }

  updateGroup(id: string, patch: Record<string, unknown>): string[] {
    const g = this.getGroup(id);
    if (!g) throw notFound(id);
    const props = this.checkProps('group', patch, false);
    const changed: string[] = [];
    for (const [k, v] of Object.entries(props)) {
      if (sameJson(g.props[k], v)) continue;
      g.props[k] = v;
      changed.push(k);
    }
    if (changed.length > 0) this.record({ kind: 'group', id: g.id, op: 'update', props: changed });
    return changed;
  }

  /** Groups are deleted permanently here (security groups are not restorable in Entra). */
  deleteGroup(id: string): void {
    const g = this.getGroup(id);
    if (!g) throw notFound(id);
    for (const pid of this.parents.get(g.id) ?? []) {
      const p = this.groups.get(pid);
      if (!p) continue;
      p.members.delete(g.id);
      this.record({ kind: 'member', groupId: pid, memberId: g.id, memberType: 'group', op: 'remove' });
    }
    this.parents.delete(g.id);
    for (const m of g.members) this.parents.get(m)?.delete(g.id);
    this.groups.delete(g.id);
    this.groupOrder.splice(this.groupOrder.indexOf(g), 1);
    this.record({ kind: 'group', id: g.id, op: 'delete' });
    this.invalidate();
  }

  /** A service principal, device or org contact: something a group can hold that is no person's account. */
  createOther(type: OtherType, displayName: string, id: string = randomUUID()): OtherRec {
    const key = id.toLowerCase();
    if (!GUID_RE.test(key)) throw badRequest("Invalid value for property 'id'.");
    if (this.getMember(key)) throw badRequest('Another object with the same value for property id already exists.');
    const o: OtherRec = { type, id: key, seq: this.nextSeq++, props: { displayName }, deletedAt: null };
    this.others.set(key, o);
    return o;
  }

  addMember(groupId: string, memberId: string): void {
    const g = this.getGroup(groupId);
    if (!g) throw notFound(groupId);
    const m = this.getMember(memberId);
    if (!m) throw notFound(memberId);
    if (m.id === g.id) throw badRequest('A group cannot be a member of itself.');
    if (g.members.has(m.id)) throw badRequest("One or more added object references already exist for the following modified properties: 'members'.");
    g.members.add(m.id);
    this.parentSet(m.id).add(g.id);
    this.record({ kind: 'member', groupId: g.id, memberId: m.id, memberType: m.type, op: 'add' });
    this.invalidate();
  }

  removeMember(groupId: string, memberId: string): void {
    const g = this.getGroup(groupId);
    if (!g) throw notFound(groupId);
    const mid = memberId.toLowerCase();
    const m = this.getMember(mid);
    if (!g.members.has(mid) || !m) throw new GraphFailure(404, 'Request_ResourceNotFound', `Resource '${memberId}' does not exist or one of its queried reference-property objects are not present.`);
    g.members.delete(mid);
    this.parents.get(mid)?.delete(g.id);
    this.record({ kind: 'member', groupId: g.id, memberId: mid, memberType: m.type, op: 'remove' });
    this.invalidate();
  }
}
