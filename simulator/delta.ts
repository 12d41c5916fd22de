/**
 * /users/delta and /groups/delta (reference §1.4). Tokens are opaque and carry $select, the id filter and a
 * change-log position. An initial round lists every current object (soft-deleted users as @removed "changed"),
 * later rounds list objects changed since the token. Groups carry members@delta; a group with more members than
 * fit on a page is split over several pages (the same group appears again with more members@delta).
 */
import { Change, DeltaQuirks, Directory, GroupRec, MemberObject, UserRec } from './directory';
import { badRequest, GraphFailure, unsupportedQuery } from './errors';
import { Ctx, header, sendJson } from './http';
import { filterIdsOnly, parseFilter, parseSelect } from './query';
import { ODATA_TYPE, renderGroup, renderUser } from './render';
import { EntityType, GROUP_DEFAULT_SELECT, USER_DEFAULT_SELECT } from './schema';
import { TokenCodec } from './tokens';
import { Json, JsonObject } from './util';

export interface DeltaOptions {
  /** Objects per delta page unless the client sends Prefer: odata.maxpagesize=N. */
  pageSize: number;
  /** members@delta entries per group entry; larger groups are split across pages. */
  membersPerPage: number;
  /** Delta/skip tokens older than this answer 400 syncStateNotFound, as Microsoft documents (Graph: 7 days). */
  tokenTtlSeconds: number;
}

interface Common {
  e: EntityType;
  i: string;
  ep: number;
  s: string[] | null;
  f: string[] | null;
  ts: number;
}
interface SkipTok extends Common {
  k: 'dskip';
  /** The empty page the emptyPages quirk puts before this one was already given. */
  z?: 1;
  /** -1 = initial round */
  from: number;
  to: number;
  /** initial round: seq of the next object; change round: index into the change list */
  x: number;
  /** member chunk of that object */
  c: number;
}
interface DeltaTok extends Common {
  k: 'delta';
  pos: number;
}

interface UserChange {
  id: string;
  all: boolean;
  props: Set<string>;
}
interface MemberChange {
  id: string;
  type: MemberObject['type'];
  first: 'add' | 'remove';
  last: 'add' | 'remove';
}
interface GroupChange {
  id: string;
  all: boolean;
  deleted: boolean;
  props: Set<string>;
  members: Map<string, MemberChange>;
}

const MAX_PAGE = 999;

export class DeltaEngine {
  constructor(
    private readonly dir: Directory,
    private readonly codec: TokenCodec,
    private readonly opts: DeltaOptions,
  ) {}

  handle(ctx: Ctx, q: Map<string, string>, type: EntityType, base: string): void {
    for (const k of ['top', 'expand', 'orderby', 'search', 'count', 'skip']) {
      if (q.has(k)) throw unsupportedQuery(`The query option '$${k}' is not supported with delta queries.`);
    }
    const prefer = (header(ctx, 'prefer') ?? '').toLowerCase();
    const mps = /odata\.maxpagesize\s*=\s*(\d+)/.exec(prefer);
    const pageSize = Math.min(MAX_PAGE, Math.max(1, mps ? Number(mps[1]) : this.opts.pageSize));
    const minimal = /return\s*=\s*minimal/.test(prefer);
    const coll = type === 'user' ? 'users' : 'groups';
    const path = `${base}/${coll}/delta`;

    const skiptoken = q.get('skiptoken');
    const deltatoken = q.get('deltatoken');
    if (skiptoken !== undefined) {
      const tok = this.codec.decode<SkipTok>(skiptoken);
      if (!tok || tok.k !== 'dskip' || tok.e !== type) throw badRequest('The specified skip token is invalid for this delta query.');
      this.checkFresh(tok, tok.from < 0 ? null : tok.from, path);
      return this.page(ctx, tok, pageSize, minimal, path);
    }
    if (deltatoken !== undefined && deltatoken !== '') {
      if (deltatoken.toLowerCase() === 'latest') {
        const common = this.common(type, q);
        const dl: DeltaTok = { ...common, k: 'delta', pos: this.dir.position };
        sendJson(ctx, 200, { '@odata.context': this.context(base, coll, common.s), '@odata.deltaLink': `${path}?$deltatoken=${this.codec.encode(dl)}`, value: [] });
        return;
      }
      const tok = this.codec.decode<DeltaTok>(deltatoken);
      if (!tok || tok.k !== 'delta' || tok.e !== type) throw badRequest('The specified delta token is invalid.');
      this.checkFresh(tok, tok.pos, path);
      const start: SkipTok = { ...tok, k: 'dskip', from: tok.pos, to: this.dir.position, x: 0, c: 0, ts: this.dir.now() };
      return this.page(ctx, start, pageSize, minimal, path);
    }
    const common = this.common(type, q);
    const start: SkipTok = { ...common, k: 'dskip', from: -1, to: this.dir.position, x: 0, c: 0 };
    return this.page(ctx, start, pageSize, minimal, path);
  }

  private arrange<T>(changes: T[], tok: SkipTok): (T & { stale?: true })[] {
    return arrangeChanges(changes, this.dir.deltaQuirks, tok);
  }

  private common(type: EntityType, q: Map<string, string>): Common {
    const sel = q.get('select');
    const s = sel !== undefined ? parseSelect(sel, [type], true, type === 'group' ? ['members'] : []) : null;
    let f: string[] | null = null;
    const filter = q.get('filter');
    if (filter !== undefined) {
      f = filterIdsOnly(parseFilter(filter));
      if (!f) throw unsupportedQuery("Delta queries support only $filter=id eq '...' (optionally or-ed).");
      if (f.length > 50) throw unsupportedQuery(`Too many ids in the delta $filter: ${f.length}. Max allowed: 50.`);
    }
    return { e: type, i: this.dir.instanceId, ep: this.dir.epoch, s, f, ts: this.dir.now() };
  }

  private checkFresh(tok: Common, pos: number | null, path: string): void {
    // A token past its duration: Microsoft's documented answer is a 400 naming the lost sync state.
    if (this.dir.now() - tok.ts > this.opts.tokenTtlSeconds * 1000) {
      throw new GraphFailure(400, 'syncStateNotFound', `The sync state is not found: the delta token is older than ${Math.round(this.opts.tokenTtlSeconds / 86400)} days. Start a new delta round.`);
    }
    const trimmed = pos !== null && pos < this.dir.oldestPosition;
    // A reset (another directory, an expired generation, a trimmed change log): 410 Gone with where to start again.
    if (tok.i !== this.dir.instanceId || tok.ep !== this.dir.epoch || trimmed) {
      const sel = tok.s ? `$select=${tok.s.join(',')}&` : '';
      throw new GraphFailure(
        410,
        'resyncRequired',
        `Resync required. The delta token has expired or is no longer valid. Replace any local cached copy of the ${tok.e}s collection with the result of a new delta round (see the Location header).`,
        { location: `${path}?${sel}$deltatoken=` },
      );
    }
  }

  private context(base: string, coll: string, s: string[] | null): string {
    return `${base}/$metadata#${coll}${s ? `(${s.join(',')})` : ''}`;
  }

  private page(ctx: Ctx, tok: SkipTok, pageSize: number, minimal: boolean, path: string): void {
    const coll = tok.e === 'user' ? 'users' : 'groups';
    const base = path.slice(0, path.length - `/${coll}/delta`.length);
    if (this.dir.deltaQuirks.emptyPages && !tok.z) {
      // Graph may answer a page with no items and a nextLink: a client must follow it.
      sendJson(ctx, 200, { '@odata.context': this.context(base, coll, tok.s), '@odata.nextLink': `${path}?$skiptoken=${this.codec.encode({ ...tok, z: 1 })}`, value: [] });
      return;
    }
    const res = tok.e === 'user' ? this.userPage(tok, pageSize, minimal) : this.groupPage(tok, pageSize, minimal);
    const body: JsonObject = { '@odata.context': this.context(base, coll, tok.s) };
    if (res.next) {
      const { z: _given, ...rest } = tok;
      body['@odata.nextLink'] = `${path}?$skiptoken=${this.codec.encode({ ...rest, x: res.next.x, c: res.next.c })}`;
    } else {
      const dl: DeltaTok = { k: 'delta', e: tok.e, i: tok.i, ep: tok.ep, s: tok.s, f: tok.f, ts: this.dir.now(), pos: tok.to };
      body['@odata.deltaLink'] = `${path}?$deltatoken=${this.codec.encode(dl)}`;
    }
    body.value = res.items;
    sendJson(ctx, 200, body);
  }

  // ------------------------------------------------------------------------------------------ users

  private userPage(tok: SkipTok, pageSize: number, minimal: boolean): { items: Json[]; next?: { x: number; c: number } } {
    const select = tok.s ?? USER_DEFAULT_SELECT;
    const ids = tok.f ? new Set(tok.f) : null;
    const items: Json[] = [];
    if (tok.from < 0) {
      const all = this.dir.orderedUsers();
      let i = lowerBound(all, tok.x);
      for (; i < all.length; i++) {
        const u = all[i]!;
        if (ids && !ids.has(u.id)) continue;
        if (items.length >= pageSize) return { items, next: { x: u.seq, c: 0 } };
        items.push(u.deletedAt ? removed(u.id, 'changed') : renderUser(u, { select, omitNull: true }));
      }
      return { items };
    }
    const tracked = new Set(select);
    const changes = this.arrange(userChanges(this.dir.changesBetween(tok.from, tok.to), tracked).filter((c) => !ids || ids.has(c.id)), tok);
    for (let x = tok.x; x < changes.length; x++) {
      if (items.length >= pageSize) return { items, next: { x, c: 0 } };
      const ch = changes[x]!;
      const u = this.dir.users.get(ch.id);
      // A replayed entry can be older than a removal earlier in the round: the user as they were.
      if (ch.stale && (!u || u.deletedAt)) items.push(u ? renderUser(u, { select, omitNull: true }) : { id: ch.id });
      else if (!u) items.push(removed(ch.id, 'deleted'));
      else if (u.deletedAt) items.push(removed(ch.id, 'changed'));
      else if (minimal && !ch.all) items.push(minimalUser(u, ch.props));
      else items.push(renderUser(u, { select, omitNull: true, keepNull: ch.props }));
    }
    return { items };
  }

  // ------------------------------------------------------------------------------------------ groups

  private groupPage(tok: SkipTok, pageSize: number, minimal: boolean): { items: Json[]; next?: { x: number; c: number } } {
    const withMembers = tok.s === null || tok.s.includes('members');
    const select = tok.s ? tok.s.filter((s) => s !== 'members') : GROUP_DEFAULT_SELECT;
    const M = Math.max(1, this.opts.membersPerPage);
    const ids = tok.f ? new Set(tok.f) : null;
    const items: Json[] = [];

    // Emits the chunks of one group starting at chunk c; returns the chunk to continue with, or null when done.
    const emit = (g: GroupRec | null, id: string, entries: JsonObject[], c: number, props: () => JsonObject): number | null => {
      const chunks = withMembers ? Math.max(1, Math.ceil(entries.length / M)) : 1;
      for (let k = c; k < chunks; k++) {
        const item: JsonObject = g ? props() : { id };
        if (withMembers) item['members@delta'] = entries.slice(k * M, (k + 1) * M);
        items.push(item);
        if (k < chunks - 1) return k + 1; // the rest of this group goes on the next page
      }
      return null;
    };

    if (tok.from < 0) {
      const all = this.dir.orderedGroups();
      let i = lowerBound(all, tok.x);
      let first = true;
      for (; i < all.length; i++) {
        const g = all[i]!;
        if (ids && !ids.has(g.id)) continue;
        const startChunk = first && g.seq === tok.x ? tok.c : 0;
        first = false;
        if (items.length >= pageSize) return { items, next: { x: g.seq, c: startChunk } };
        const entries = withMembers ? this.dir.directMembers(g.id).map((m) => ({ '@odata.type': ODATA_TYPE[m.type], id: m.id })) : [];
        const more = emit(g, g.id, entries, startChunk, () => renderGroup(g, { select, omitNull: true }));
        if (more !== null) return { items, next: { x: g.seq, c: more } };
      }
      return { items };
    }

    const tracked = new Set(select);
    const changes = this.arrange(groupChanges(this.dir.changesBetween(tok.from, tok.to), tracked, withMembers).filter((c) => !ids || ids.has(c.id)), tok);
    for (let x = tok.x; x < changes.length; x++) {
      const ch = changes[x]!;
      const startChunk = x === tok.x ? tok.c : 0;
      if (items.length >= pageSize) return { items, next: { x, c: startChunk } };
      const g = this.dir.getGroup(ch.id);
      if (!g) {
        items.push(removed(ch.id, 'deleted'));
        continue;
      }
      const entries: JsonObject[] = [];
      for (const m of ch.members.values()) {
        if (m.first !== m.last) continue; // added and removed again (or the reverse): no net change
        entries.push(m.last === 'add' ? { '@odata.type': ODATA_TYPE[m.type], id: m.id } : { '@odata.type': ODATA_TYPE[m.type], id: m.id, '@removed': { reason: 'deleted' } });
      }
      const propsChanged = ch.all || ch.props.size > 0;
      if (!propsChanged && entries.length === 0) continue;
      const props = () => (minimal && !ch.all ? minimalGroup(g, ch.props) : renderGroup(g, { select, omitNull: true, keepNull: ch.props }));
      const more = emit(g, g.id, entries, startChunk, props);
      if (more !== null) return { items, next: { x, c: more } };
    }
    return { items };
  }
}

/** A change round's entries, in an order fixed by the round (so its pages agree) and, with the quirks, shuffled and replayed. */
function arrangeChanges<T>(changes: T[], quirks: DeltaQuirks, tok: SkipTok): (T & { stale?: true })[] {
  let list = changes as (T & { stale?: true })[];
  if (quirks.shuffle) {
    // A small LCG seeded by the round: the same round shuffles the same way on every page.
    let state = (tok.from * 2654435761 + tok.to) >>> 0 || 1;
    const next = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    list = [...list];
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
  }
  // Every entry again at the end of the round, the replay of a removed user being as they were before.
  if (quirks.replay) list = [...list, ...list.map((c) => ({ ...c, stale: true as const }))];
  return list;
}

/** First index whose seq >= x (arrays are ordered by seq). */
function lowerBound(all: readonly { seq: number }[], x: number): number {
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (all[mid]!.seq < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function removed(id: string, reason: 'changed' | 'deleted'): JsonObject {
  return { id, '@removed': { reason } };
}

function minimalUser(u: UserRec, props: Set<string>): JsonObject {
  const out: JsonObject = { id: u.id };
  for (const p of props) out[p] = u.props[p] ?? null;
  return out;
}
function minimalGroup(g: GroupRec, props: Set<string>): JsonObject {
  const out: JsonObject = { id: g.id };
  for (const p of props) out[p] = g.props[p] ?? null;
  return out;
}

/** Net user changes in log order of first appearance; updates count only when they touch a tracked property. */
function userChanges(log: Change[], tracked: Set<string>): UserChange[] {
  const map = new Map<string, UserChange>();
  for (const c of log) {
    if (c.kind !== 'user') continue;
    let e = map.get(c.id);
    if (c.op === 'update') {
      const hits = (c.props ?? []).filter((p) => tracked.has(p));
      if (hits.length === 0) continue;
      if (!e) map.set(c.id, (e = { id: c.id, all: false, props: new Set() }));
      for (const p of hits) e.props.add(p);
    } else {
      if (!e) map.set(c.id, (e = { id: c.id, all: false, props: new Set() }));
      e.all = true;
    }
  }
  return [...map.values()];
}

function groupChanges(log: Change[], tracked: Set<string>, withMembers: boolean): GroupChange[] {
  const map = new Map<string, GroupChange>();
  const get = (id: string) => {
    let e = map.get(id);
    if (!e) map.set(id, (e = { id, all: false, deleted: false, props: new Set(), members: new Map() }));
    return e;
  };
  for (const c of log) {
    if (c.kind === 'group') {
      if (c.op === 'update') {
        const hits = (c.props ?? []).filter((p) => tracked.has(p));
        if (hits.length === 0) continue;
        const e = get(c.id);
        for (const p of hits) e.props.add(p);
      } else {
        const e = get(c.id);
        e.all = true;
        e.deleted = c.op === 'delete';
      }
    } else if (c.kind === 'member' && withMembers) {
      const e = get(c.groupId);
      const m = e.members.get(c.memberId);
      if (m) m.last = c.op;
      else e.members.set(c.memberId, { id: c.memberId, type: c.memberType, first: c.op, last: c.op });
    }
  }
  return [...map.values()];
}
