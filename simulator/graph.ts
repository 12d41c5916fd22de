/** Graph v1.0 read endpoints: users, groups, memberships, manager, with OData query options and paging. */
import { AccessClaims } from './auth';
import { DeltaEngine } from './delta';
import { DirObject, Directory, MemberObject, UserRec } from './directory';
import { badRequest, GraphFailure, notFound, unsupportedQuery } from './errors';
import { Ctx, header, send, sendJson } from './http';
import { compileFilter, compileSearch, parseFilter, parseOrderBy, parseSelect, Predicate, Queryable, sortBy } from './query';
import { ODATA_TYPE, renderObject, renderOther, renderUser } from './render';
import { EntityType } from './schema';
import { TokenCodec } from './tokens';
import { JsonObject } from './util';

export interface GraphApiOptions {
  pageSizeDefault: number;
  /** Max `or`-ed clauses / `in` values in $filter (0 = unlimited). */
  maxFilterClauses: number;
  /**
   * A cast on a transitive relationship (`/groups/{id}/transitiveMembers/microsoft.graph.user`) is an
   * advanced query, as Microsoft documents: refused without `ConsistencyLevel: eventual` and `$count=true`.
   */
  strictCasts: boolean;
}

const USER_READ = ['User.Read.All', 'User.ReadWrite.All', 'User.ReadBasic.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];
const GROUP_READ = ['Group.Read.All', 'Group.ReadWrite.All', 'GroupMember.Read.All', 'GroupMember.ReadWrite.All', 'Directory.Read.All', 'Directory.ReadWrite.All'];

const QUERY_OPTIONS = ['select', 'filter', 'top', 'count', 'orderby', 'search', 'expand', 'skiptoken', 'deltatoken', 'skip', 'format'];

/** The OData system query options of a request, keys lower-cased without '$' (the '$' is optional in Graph). */
export function readQuery(ctx: Ctx): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of ctx.url.searchParams) {
    const key = k.toLowerCase().replace(/^\$/, '');
    if (!k.startsWith('$') && !QUERY_OPTIONS.includes(key)) continue;
    if (!QUERY_OPTIONS.includes(key)) throw badRequest(`The query parameter '${k}' is not supported.`);
    if (out.has(key)) throw badRequest(`Query option '$${key}' was specified more than once, but it must be specified at most once.`);
    out.set(key, v);
  }
  return out;
}

export function isEventual(ctx: Ctx): boolean {
  return (header(ctx, 'consistencylevel') ?? '').trim().toLowerCase() === 'eventual';
}

function parseTop(v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = /^\d+$/.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 999) throw badRequest(`Invalid page size specified: '${v}'. Must be between 1 and 999 inclusive.`);
  return n;
}

function parseCount(v: string | undefined): boolean {
  if (v === undefined) return false;
  const x = v.trim().toLowerCase();
  if (x !== 'true' && x !== 'false') throw badRequest(`Invalid value '${v}' for $count query option found. The $count query option requires a Boolean value.`);
  return x === 'true';
}

interface ExpandSpec {
  prop: 'manager' | 'members';
  select: string[] | null;
}

function parseExpand(src: string, type: EntityType): ExpandSpec[] {
  // split on top-level commas
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of src) {
    if (c === '(') depth++;
    if (c === ')') depth--;
    if (c === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) parts.push(cur);
  return parts.map((p) => {
    const m = /^\s*([A-Za-z]+)\s*(?:\((.*)\))?\s*$/.exec(p);
    if (!m) throw badRequest(`Syntax error in $expand '${src}'.`);
    const name = m[1]!.toLowerCase();
    const wanted = type === 'user' ? 'manager' : 'members';
    if (name !== wanted) {
      const known = type === 'user' ? ['memberof', 'transitivememberof', 'directreports', 'manager'] : ['memberof', 'transitivememberof', 'members', 'transitivemembers', 'owners'];
      if (!known.includes(name)) throw badRequest(`Could not find a property named '${m[1]}' on type 'microsoft.graph.${type}'.`);
      throw new GraphFailure(501, 'NotImplemented', `$expand=${m[1]} is not implemented by the simulator (supported: ${wanted}).`);
    }
    let select: string[] | null = null;
    if (m[2]) {
      const sm = /^\s*\$select\s*=\s*(.+)$/i.exec(m[2]);
      if (!sm) throw badRequest(`Only $select is supported inside $expand (got '${m[2]}').`);
      select = parseSelect(sm[1]!, wanted === 'manager' ? ['user'] : ['user', 'group'], true);
    }
    return { prop: wanted, select };
  });
}

/** What a collection endpoint lists and how. */
interface ListDef {
  /** Binds skip tokens to the collection. */
  pathKey: string;
  /** Path for nextLinks, relative to /v1.0/. */
  nextPath: string;
  /** "@odata.context" fragment for an unselected list, e.g. "users" or "directoryObjects". */
  context: string;
  types: EntityType[];
  withType: boolean;
  /** Relationship collections (members, memberOf, ...) need advanced queries for $filter/$orderby/$search. */
  relationship: boolean;
  /** Items in their natural order; soft-deleted users must already be excluded. For keyset lists: ordered by seq. */
  items: () => readonly MemberObject[];
  /** Keyset paging by creation sequence (top-level users/groups). */
  keyset: boolean;
}

interface ListState {
  s: string | null;
  f: string | null;
  t: number;
  c: boolean;
  o: string | null;
  se: string | null;
  e: string | null;
}
interface PageToken {
  k: 'list';
  p: string;
  i: string;
  a: boolean;
  q: ListState;
  after?: number;
  off?: number;
}

export class GraphApi {
  constructor(
    private readonly dir: Directory,
    private readonly codec: TokenCodec,
    private readonly delta: DeltaEngine,
    private readonly opts: GraphApiOptions,
  ) {}

  /** Resource-unit cost (reference §1.6), sent as x-ms-resource-unit. */
  static cost(segments: string[], q: URLSearchParams): number {
    const s = segments.map((x) => x.toLowerCase());
    let c = 1;
    if (s[1] === 'users' && s.length === 2) c = 2;
    else if (s[1] === 'groups' && s[3] === 'members') c = 3;
    else if (s[1] === 'groups' && s[3] === 'transitivemembers') c = 5;
    else if (s[1] === 'users' && s[3] === 'memberof') c = 2;
    const has = (k: string) => q.has(`$${k}`) || q.has(k);
    if (has('select')) c -= 1;
    if (has('expand')) c += 1;
    const top = Number(q.get('$top') ?? q.get('top') ?? 'NaN');
    if (top < 20) c -= 1;
    return Math.max(1, c);
  }

  handle(ctx: Ctx, claims: AccessClaims, rest: string[]): void {
    const low = rest.map((s) => s.toLowerCase());
    const root = low[0];
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      throw new GraphFailure(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    }
    if (root === 'users' || root === 'me') {
      if (root === 'me') throw badRequest('/me request is only valid with delegated authentication flow.');
      this.requireRole(claims, USER_READ);
    } else if (root === 'groups') {
      this.requireRole(claims, GROUP_READ);
    } else if (root === 'directory' && low[1] === 'deleteditems') {
      this.requireRole(claims, USER_READ);
    }
    const q = readQuery(ctx);

    if (root === 'organization' && rest.length === 1) {
      sendJson(ctx, 200, {
        '@odata.context': `${this.base(ctx)}/$metadata#organization`,
        value: [{ id: claims.tid, displayName: 'Contoso (idflow simulator)', verifiedDomains: [{ name: 'contoso.example', isDefault: true, isInitial: true, type: 'Managed' }] }],
      });
      return;
    }
    if (root === 'directory' && low[1] === 'deleteditems' && low[2] === 'microsoft.graph.user' && rest.length === 3) {
      return this.list(ctx, q, {
        pathKey: 'deleteditems/user',
        nextPath: 'directory/deletedItems/microsoft.graph.user',
        context: 'directoryObjects/microsoft.graph.user',
        types: ['user'],
        withType: false,
        relationship: false,
        items: () => this.dir.deletedUsers(),
        keyset: true,
      });
    }
    if (root !== 'users' && root !== 'groups') throw badRequest(`Resource not found for the segment '${rest[0] ?? ''}'.`, 'BadRequest');
    const type: EntityType = root === 'users' ? 'user' : 'group';

    if (rest.length === 1) {
      return this.list(ctx, q, {
        pathKey: root,
        nextPath: root,
        context: root,
        types: [type],
        withType: false,
        relationship: false,
        items: () => (type === 'user' ? this.dir.orderedUsers().filter((u) => !u.deletedAt && this.dir.replicated(u)) : this.dir.orderedGroups()),
        keyset: true,
      });
    }
    const seg1 = low[1]!;
    if (seg1 === '$count' && rest.length === 2) return this.count(ctx, q, [type], () => (type === 'user' ? this.dir.liveUsers() : [...this.dir.orderedGroups()]), false);
    if (['delta', 'delta()', 'microsoft.graph.delta', 'microsoft.graph.delta()'].includes(seg1) && rest.length === 2) {
      return this.delta.handle(ctx, q, type, this.base(ctx));
    }
    // /users/{id} or /groups/{id}
    const idOrUpn = rest[1]!;
    const obj = type === 'user' ? this.dir.getUser(idOrUpn) : this.dir.getGroup(idOrUpn);
    if (!obj || (obj.type === 'user' && !this.dir.replicated(obj))) throw notFound(idOrUpn);
    if (rest.length === 2) return this.single(ctx, q, obj);

    const rel = low[2]!;
    const relName = { memberof: 'memberOf', transitivememberof: 'transitiveMemberOf', members: 'members', transitivemembers: 'transitiveMembers', directreports: 'directReports', manager: 'manager' }[rel];
    const allowed = type === 'user' ? ['memberOf', 'transitiveMemberOf', 'directReports', 'manager'] : ['memberOf', 'transitiveMemberOf', 'members', 'transitiveMembers'];
    if (!relName || !allowed.includes(relName)) throw badRequest(`Resource not found for the segment '${rest[2]}'.`, 'BadRequest');
    if (relName === 'manager') {
      if (rest.length !== 3) throw badRequest(`Resource not found for the segment '${rest[3]}'.`, 'BadRequest');
      return this.manager(ctx, q, obj as UserRec);
    }
    let cast: EntityType | null = null;
    let idx = 3;
    // Graph takes the schema's alias too: kiota-generated SDKs (Python, .NET, Go, Java) write `graph.user`.
    const castName = low[3]?.replace(/^graph\./, 'microsoft.graph.');
    if (castName === 'microsoft.graph.user' || castName === 'microsoft.graph.group') {
      cast = castName === 'microsoft.graph.user' ? 'user' : 'group';
      idx = 4;
    }
    if (cast && this.opts.strictCasts && relName.startsWith('transitive') && !(isEventual(ctx) && q.get('count')?.trim().toLowerCase() === 'true')) {
      throw unsupportedQuery(`An OData cast on '${relName}' is an advanced query: add $count=true and the header 'ConsistencyLevel: eventual', or read '${relName}' without the cast and keep members by their '@odata.type'.`);
    }
    const source = (): MemberObject[] => {
      let items: MemberObject[];
      switch (relName) {
        case 'members':
          items = this.dir.directMembers(obj.id);
          break;
        case 'transitiveMembers':
          items = this.dir.transitiveMembers(obj.id);
          break;
        case 'memberOf':
          items = this.dir.memberOf(obj.id);
          break;
        case 'transitiveMemberOf':
          items = this.dir.transitiveMemberOf(obj.id);
          break;
        default:
          items = this.dir.directReports(obj.id);
      }
      return cast ? items.filter((o) => o.type === cast) : items;
    };
    const types: EntityType[] = cast ? [cast] : relName === 'directReports' ? ['user'] : relName.toLowerCase().includes('memberof') ? ['group'] : ['user', 'group'];
    if (low[idx] === '$count' && rest.length === idx + 1) return this.count(ctx, q, types, source, true);
    if (rest.length !== idx) throw badRequest(`Resource not found for the segment '${rest[idx]}'.`, 'BadRequest');
    const castPath = cast ? `/microsoft.graph.${cast}` : '';
    return this.list(ctx, q, {
      pathKey: `${root}/${obj.id}/${relName}${castPath}`,
      nextPath: `${root}/${obj.id}/${relName}${castPath}`,
      context: cast ? (cast === 'user' ? 'users' : 'groups') : 'directoryObjects',
      types,
      withType: true,
      relationship: true,
      items: source,
      keyset: false,
    });
  }

  private requireRole(claims: AccessClaims, any: string[]): void {
    if (!claims.roles.some((r) => any.includes(r))) throw new GraphFailure(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
  }

  private base(ctx: Ctx): string {
    return `${ctx.url.origin}/v1.0`;
  }

  private single(ctx: Ctx, q: Map<string, string>, obj: DirObject): void {
    for (const k of q.keys()) if (!['select', 'expand', 'format'].includes(k)) throw badRequest(`Query option '$${k}' is not allowed on a single ${obj.type}.`);
    const select = q.has('select') ? parseSelect(q.get('select')!, [obj.type], false) : null;
    const expand = q.has('expand') ? parseExpand(q.get('expand')!, obj.type) : [];
    const body: JsonObject = {
      '@odata.context': `${this.base(ctx)}/$metadata#${obj.type}s${select ? `(${select.join(',')})` : ''}/$entity`,
      ...renderObject(obj, { select }),
    };
    this.applyExpand(body, obj, expand);
    sendJson(ctx, 200, body);
  }

  private applyExpand(body: JsonObject, obj: MemberObject, expand: ExpandSpec[]): void {
    for (const e of expand) {
      if (e.prop === 'manager' && obj.type === 'user') {
        const m = this.dir.manager(obj.id);
        if (m) body.manager = m.type === 'user' ? renderUser(m, { select: e.select, withType: true }) : renderOther(m, { select: e.select, withType: true });
      } else if (e.prop === 'members' && obj.type === 'group') {
        // Graph returns at most 20 expanded members.
        body.members = this.dir.directMembers(obj.id).slice(0, 20).map((m) => renderObject(m, { select: e.select, withType: true }));
      }
    }
  }

  private manager(ctx: Ctx, q: Map<string, string>, user: UserRec): void {
    for (const k of q.keys()) if (!['select', 'format'].includes(k)) throw badRequest(`Query option '$${k}' is not allowed on manager.`);
    const m = this.dir.manager(user.id);
    if (!m) throw notFound('manager');
    const select = q.has('select') ? parseSelect(q.get('select')!, ['user'], false) : null;
    sendJson(ctx, 200, { '@odata.context': `${this.base(ctx)}/$metadata#directoryObjects/$entity`, ...(m.type === 'user' ? renderUser(m, { select, withType: true }) : renderOther(m, { select, withType: true })) });
  }

  private matcher(state: ListState, types: EntityType[], advanced: boolean, eventual: boolean, relationship: boolean): Predicate | null {
    const preds: Predicate[] = [];
    if (state.f !== null) {
      if (relationship && !advanced) throw unsupportedQuery('The specified filter to the reference property query is currently not supported.');
      preds.push(compileFilter(parseFilter(state.f), { types, advanced, maxClauses: this.opts.maxFilterClauses }));
    }
    if (state.se !== null) {
      if (!eventual) throw unsupportedQuery("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'");
      preds.push(compileSearch(state.se.trim(), types));
    }
    if (preds.length === 0) return null;
    if (preds.length === 1) return preds[0]!;
    return (o) => preds.every((p) => p(o));
  }

  private count(ctx: Ctx, q: Map<string, string>, types: EntityType[], source: () => readonly MemberObject[], relationship: boolean): void {
    if (!isEventual(ctx)) throw badRequest('$count is not currently supported.');
    for (const k of q.keys()) if (!['filter', 'search', 'format'].includes(k)) throw badRequest(`Query option '$${k}' is not allowed with /$count.`);
    const state: ListState = { s: null, f: q.get('filter') ?? null, t: 0, c: true, o: null, se: q.get('search') ?? null, e: null };
    const match = this.matcher(state, types, true, true, relationship);
    const items = source();
    const n = match ? items.filter((o) => match(o as Queryable)).length : items.length;
    send(ctx, 200, String(n), { 'content-type': 'text/plain;charset=utf-8' });
  }

  private list(ctx: Ctx, q: Map<string, string>, def: ListDef): void {
    const eventual = isEventual(ctx);
    let state: ListState;
    let advanced: boolean;
    let after: number | undefined;
    let off = 0;
    const skiptoken = q.get('skiptoken');
    if (q.has('skip')) throw badRequest("'$skip' is not supported by the service.");
    if (q.has('deltatoken')) throw badRequest("'$deltatoken' is only supported on delta functions.");
    if (skiptoken !== undefined) {
      const tok = this.codec.decode<PageToken>(skiptoken);
      if (!tok || tok.k !== 'list' || tok.p !== def.pathKey) throw badRequest('The specified page token value is invalid.');
      if (tok.i !== this.dir.instanceId) throw new GraphFailure(400, 'Directory_ExpiredPageToken', 'The specified page token value has expired and can no longer be included in your request.');
      if (tok.a && !eventual) throw unsupportedQuery('Unable to execute query; invalid page token specified.');
      state = tok.q;
      advanced = tok.a;
      after = tok.after;
      off = tok.off ?? 0;
    } else {
      const count = parseCount(q.get('count'));
      advanced = eventual && count;
      state = {
        s: q.get('select') ?? null,
        f: q.get('filter') ?? null,
        t: parseTop(q.get('top'), this.opts.pageSizeDefault),
        c: count,
        o: q.get('orderby') ?? null,
        se: q.get('search') ?? null,
        e: q.get('expand') ?? null,
      };
      // $search alone (header, no $count) still counts as an advanced query for paging purposes.
      if (state.se !== null && eventual) advanced = advanced || eventual;
    }
    const select = state.s !== null ? parseSelect(state.s, def.types, true) : null;
    const match = this.matcher(state, def.types, advanced, eventual || advanced, def.relationship);
    const order = state.o !== null ? parseOrderBy(state.o, def.types, advanced, state.f !== null) : null;
    if (order && def.relationship && !advanced) throw unsupportedQuery('Sorting not supported for current query.');
    const expand = state.e !== null ? parseExpand(state.e, def.types[0]!) : [];
    if (expand.length > 0 && advanced) throw unsupportedQuery('$expand is not supported with advanced queries (ConsistencyLevel: eventual with $count, $search).');
    if (expand.length > 0 && def.relationship) throw new GraphFailure(501, 'NotImplemented', '$expand on relationship collections is not implemented by the simulator.');

    const top = state.t;
    const all = def.items();
    let page: MemberObject[] = [];
    let more = false;
    let nextAfter: number | undefined;
    let nextOff: number | undefined;
    if (def.keyset && !order && state.se === null) {
      // keyset paging by creation sequence: stable while objects are added or deleted between pages
      let lo = 0;
      if (after !== undefined) {
        let hi = all.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (all[mid]!.seq <= after) lo = mid + 1;
          else hi = mid;
        }
      }
      let i = lo;
      for (; i < all.length && page.length < top; i++) {
        const o = all[i]!;
        if (!match || match(o as Queryable)) page.push(o);
      }
      // Like Graph, a full page gets a nextLink even when nothing further matches (the last page may be empty).
      more = page.length === top && i < all.length;
      if (more) nextAfter = page[page.length - 1]!.seq;
    } else {
      let list = match ? all.filter((o) => match(o as Queryable)) : [...all];
      if (order) list = sortBy(list as Queryable[], order) as MemberObject[];
      page = list.slice(off, off + top);
      more = off + top < list.length;
      if (more) nextOff = off + top;
    }

    const body: JsonObject = {
      '@odata.context': `${this.base(ctx)}/$metadata#${def.context}${select ? `(${select.join(',')})` : ''}`,
    };
    if (advanced && state.c) body['@odata.count'] = match ? all.filter((o) => match(o as Queryable)).length : all.length;
    if (more) {
      const tok: PageToken = { k: 'list', p: def.pathKey, i: this.dir.instanceId, a: advanced, q: state };
      if (nextAfter !== undefined) tok.after = nextAfter;
      if (nextOff !== undefined) tok.off = nextOff;
      const params: string[] = [];
      const add = (k: string, v: string | null) => {
        if (v !== null) params.push(`$${k}=${encodeURIComponent(v).replace(/%2C/g, ',').replace(/%24/g, '$')}`);
      };
      add('select', state.s);
      add('filter', state.f);
      add('search', state.se);
      add('orderby', state.o);
      add('expand', state.e);
      add('top', top !== this.opts.pageSizeDefault ? String(top) : null);
      if (state.c) add('count', 'true');
      params.push(`$skiptoken=${this.codec.encode(tok)}`);
      body['@odata.nextLink'] = `${this.base(ctx)}/${def.nextPath}?${params.join('&')}`;
    }
    body.value = page.map((o) => {
      const json = def.withType ? { '@odata.type': ODATA_TYPE[o.type], ...renderObject(o, { select }) } : renderObject(o, { select });
      this.applyExpand(json, o, expand);
      return json;
    });
    // Graph's order: context, count, nextLink, value
    const ordered: JsonObject = { '@odata.context': body['@odata.context']! };
    if (body['@odata.count'] !== undefined) ordered['@odata.count'] = body['@odata.count'];
    if (body['@odata.nextLink'] !== undefined) ordered['@odata.nextLink'] = body['@odata.nextLink'];
    ordered.value = body.value;
    sendJson(ctx, 200, ordered);
  }
}
