/**
 * OData query options as Graph's directory service handles them: a real $filter parser (eq, ne, gt/ge/lt/le,
 * in, startswith, endswith, any(), and/or/not, parentheses, '' escaping, true/false/null, date literals), the
 * advanced-query gate (reference §1.2), $search, $orderby and $select validation.
 */
import { badRequest, GraphFailure, unsupportedQuery } from './errors';
import { Cap, EntityType, FilterCaps, PropDef, propsOf, DEFAULT_ORDERBY } from './schema';
import { Json, JsonObject } from './util';

// ------------------------------------------------------------------------------------------------ AST
export type Literal = { kind: 'string'; v: string } | { kind: 'bool'; v: boolean } | { kind: 'null'; v: null } | { kind: 'number'; v: number } | { kind: 'date'; v: string };
type CmpOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
type FnName = 'startswith' | 'endswith';
export type FilterNode =
  | { t: 'and' | 'or'; l: FilterNode; r: FilterNode }
  | { t: 'not'; e: FilterNode }
  | { t: 'cmp'; op: CmpOp; prop: string; value: Literal }
  | { t: 'in'; prop: string; values: Literal[] }
  | { t: 'fn'; fn: FnName; prop: string; value: Literal }
  | { t: 'any'; prop: string; inner: { op: 'eq' | 'ne' | 'startswith' | 'endswith' | 'in'; values: Literal[] } };

// ------------------------------------------------------------------------------------------------ lexer
type Tok =
  | { k: 'ident'; v: string; pos: number }
  | { k: 'str'; v: string; pos: number }
  | { k: 'num'; v: string; pos: number }
  | { k: 'punct'; v: '(' | ')' | ',' | ':' | '/'; pos: number };

function syntaxError(src: string, pos: number): GraphFailure {
  return badRequest(`Invalid filter clause: Syntax error at position ${pos} in '${src}'.`);
}

function lex(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === ',' || c === ':' || c === '/') {
      out.push({ k: 'punct', v: c, pos: i });
      i++;
    } else if (c === "'") {
      const start = i;
      let s = '';
      i++;
      for (;;) {
        if (i >= src.length) throw badRequest(`Invalid filter clause: There is an unterminated string literal at position ${start} in '${src}'.`);
        if (src[i] === "'") {
          if (src[i + 1] === "'") {
            s += "'";
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += src[i];
        i++;
      }
      out.push({ k: 'str', v: s, pos: start });
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9][0-9A-Za-z:.+-]*/.exec(src.slice(i));
      if (!m) throw syntaxError(src, i);
      out.push({ k: 'num', v: m[0], pos: i });
      i += m[0].length;
    } else if (/[A-Za-z_$@]/.test(c)) {
      const m = /^[A-Za-z_$@][A-Za-z0-9_.$@]*/.exec(src.slice(i))!;
      out.push({ k: 'ident', v: m[0], pos: i });
      i += m[0].length;
    } else {
      throw syntaxError(src, i);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------ parser
class Parser {
  private i = 0;
  constructor(
    private readonly toks: Tok[],
    private readonly src: string,
  ) {}
  private peek(o = 0): Tok | undefined {
    return this.toks[this.i + o];
  }
  private err(): GraphFailure {
    return syntaxError(this.src, this.peek()?.pos ?? this.src.length);
  }
  private kw(word: string, o = 0): boolean {
    const t = this.peek(o);
    return t?.k === 'ident' && t.v.toLowerCase() === word;
  }
  private punct(p: string): boolean {
    const t = this.peek();
    return t?.k === 'punct' && t.v === p;
  }
  private expect(p: string): void {
    if (!this.punct(p)) throw this.err();
    this.i++;
  }
  parse(): FilterNode {
    const n = this.or();
    if (this.i < this.toks.length) throw this.err();
    return n;
  }
  private or(): FilterNode {
    let l = this.and();
    while (this.kw('or')) {
      this.i++;
      l = { t: 'or', l, r: this.and() };
    }
    return l;
  }
  private and(): FilterNode {
    let l = this.unary();
    while (this.kw('and')) {
      this.i++;
      l = { t: 'and', l, r: this.unary() };
    }
    return l;
  }
  private unary(): FilterNode {
    if (this.kw('not')) {
      this.i++;
      return { t: 'not', e: this.unary() };
    }
    return this.primary();
  }
  private literal(): Literal {
    const t = this.peek();
    if (!t) throw this.err();
    this.i++;
    if (t.k === 'str') return { kind: 'string', v: t.v };
    if (t.k === 'num') {
      if (/^-?\d+(\.\d+)?$/.test(t.v)) return { kind: 'number', v: Number(t.v) };
      if (!Number.isNaN(Date.parse(t.v))) return { kind: 'date', v: t.v };
      throw syntaxError(this.src, t.pos);
    }
    if (t.k === 'ident') {
      const w = t.v.toLowerCase();
      if (w === 'true' || w === 'false') return { kind: 'bool', v: w === 'true' };
      if (w === 'null') return { kind: 'null', v: null };
    }
    throw syntaxError(this.src, t.pos);
  }
  private list(): Literal[] {
    this.expect('(');
    const vals = [this.literal()];
    while (this.punct(',')) {
      this.i++;
      vals.push(this.literal());
    }
    this.expect(')');
    return vals;
  }
  private ident(): string {
    const t = this.peek();
    if (t?.k !== 'ident') throw this.err();
    this.i++;
    return t.v;
  }
  private primary(): FilterNode {
    if (this.punct('(')) {
      this.i++;
      const e = this.or();
      this.expect(')');
      return e;
    }
    const t = this.peek();
    if (t?.k !== 'ident') throw this.err();
    // function call
    if (this.peek(1)?.k === 'punct' && (this.peek(1) as { v: string }).v === '(') {
      const fn = t.v.toLowerCase();
      if (fn !== 'startswith' && fn !== 'endswith') {
        throw unsupportedQuery(fn === 'contains' || fn === 'substringof' ? 'Unsupported Query.' : `An unknown function with name '${t.v}' was found.`);
      }
      this.i += 2;
      const prop = this.ident();
      this.expect(',');
      const value = this.literal();
      this.expect(')');
      return { t: 'fn', fn, prop, value };
    }
    const prop = this.ident();
    // lambda: prop/any(x: ...)
    if (this.punct('/')) {
      this.i++;
      const fn = this.ident().toLowerCase();
      if (fn !== 'any') throw unsupportedQuery(`Unsupported lambda operator '${fn}'.`);
      this.expect('(');
      const v = this.ident();
      this.expect(':');
      let inner: { op: 'eq' | 'ne' | 'startswith' | 'endswith' | 'in'; values: Literal[] };
      const f = this.peek();
      if (f?.k === 'ident' && (f.v.toLowerCase() === 'startswith' || f.v.toLowerCase() === 'endswith') && this.peek(1)?.k === 'punct') {
        this.i++;
        this.expect('(');
        if (this.ident() !== v) throw this.err();
        this.expect(',');
        inner = { op: f.v.toLowerCase() as 'startswith' | 'endswith', values: [this.literal()] };
        this.expect(')');
      } else {
        if (this.ident() !== v) throw this.err();
        const op = this.ident().toLowerCase();
        if (op === 'in') inner = { op: 'in', values: this.list() };
        else if (op === 'eq' || op === 'ne') inner = { op, values: [this.literal()] };
        else throw this.err();
      }
      this.expect(')');
      return { t: 'any', prop, inner };
    }
    const opTok = this.peek();
    if (opTok?.k !== 'ident') throw this.err();
    const op = opTok.v.toLowerCase();
    this.i++;
    if (op === 'in') return { t: 'in', prop, values: this.list() };
    if (['eq', 'ne', 'gt', 'ge', 'lt', 'le'].includes(op)) return { t: 'cmp', op: op as CmpOp, prop, value: this.literal() };
    throw syntaxError(this.src, opTok.pos);
  }
}

export function parseFilter(src: string): FilterNode {
  if (src.trim() === '') throw badRequest("Invalid filter clause: The query specified in the URI is not valid. An expression was expected.");
  return new Parser(lex(src), src).parse();
}

// ------------------------------------------------------------------------------------------------ gate + compile
export interface Queryable {
  id: string;
  props: JsonObject;
}
export type Predicate = (o: Queryable) => boolean;

const RESOURCE: Record<EntityType, string> = { user: 'User', group: 'Group' };

export function unknownProperty(name: string, type: EntityType | 'directoryObject'): GraphFailure {
  return badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.${type}'.`);
}

function advancedOperatorError(op: string): GraphFailure {
  return unsupportedQuery(
    `Operator '${op}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information`,
  );
}
function clauseError(prop: string, type: EntityType): GraphFailure {
  return unsupportedQuery(`Unsupported or invalid query filter clause specified for property '${prop}' of resource '${RESOURCE[type]}'.`);
}

export interface FilterContext {
  /** Entity types the collection may contain (a members collection holds users and groups). */
  types: EntityType[];
  advanced: boolean;
  /** Max `or`-ed clauses / `in` values; 0 = unlimited. */
  maxClauses: number;
}

function lookupProp(name: string, ctx: FilterContext): { def: PropDef; type: EntityType } {
  for (const t of ctx.types) {
    const def = propsOf(t).get(name.toLowerCase());
    if (def) return { def, type: t };
  }
  throw unknownProperty(name, ctx.types.length === 1 ? ctx.types[0]! : 'directoryObject');
}

function requireCap(cap: Cap | undefined, ctx: FilterContext, prop: string, type: EntityType, opForMessage: string | null): void {
  if (!cap) throw clauseError(prop, type);
  if (cap === 'A' && !ctx.advanced) throw opForMessage ? advancedOperatorError(opForMessage) : clauseError(prop, type);
}

const lower = (v: Json | undefined): string | null => (typeof v === 'string' ? v.toLowerCase() : null);

function litValue(l: Literal): string | boolean | number | null {
  return l.kind === 'string' ? l.v.toLowerCase() : l.v;
}

function checkLiteralType(def: PropDef, l: Literal, type: EntityType): void {
  if (l.kind === 'null') return;
  const want = def.kind === 'boolean' ? 'bool' : def.kind === 'dateTime' ? 'date' : 'string';
  const ok = l.kind === want || (want === 'date' && l.kind === 'string' && !Number.isNaN(Date.parse(l.v)));
  if (!ok) throw badRequest(`A binary operator with incompatible types was detected. Found operand types for property '${def.name}' of resource '${RESOURCE[type]}'.`);
}

function getter(def: PropDef): (o: Queryable) => Json | undefined {
  const name = def.name;
  return name === 'id' ? (o) => o.id : (o) => o.props[name];
}

function compare(a: Json | undefined, l: Literal, def: PropDef): number | null {
  if (a === null || a === undefined || l.kind === 'null') return null;
  if (def.kind === 'dateTime') return Date.parse(String(a)) - Date.parse(String(l.v));
  if (typeof a === 'string' && typeof l.v === 'string') {
    const x = a.toLowerCase();
    const y = l.v.toLowerCase();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (typeof a === 'number' && typeof l.v === 'number') return a - l.v;
  if (typeof a === 'boolean') return a === l.v ? 0 : 1;
  return null;
}

function eqValue(a: Json | undefined, l: Literal, def: PropDef): boolean {
  if (l.kind === 'null') return a === null || a === undefined;
  if (a === null || a === undefined) return false;
  if (def.kind === 'dateTime') return Date.parse(String(a)) === Date.parse(String(l.v));
  if (typeof a === 'string') return a.toLowerCase() === litValue(l);
  return a === l.v;
}

function countClauses(n: FilterNode): number {
  switch (n.t) {
    case 'or':
      return countClauses(n.l) + countClauses(n.r);
    case 'in':
      return n.values.length;
    case 'any':
      return n.inner.values.length;
    default:
      return 1;
  }
}

/** Validates a parsed $filter against the gate and returns a predicate. */
export function compileFilter(node: FilterNode, ctx: FilterContext): Predicate {
  if (ctx.maxClauses > 0) {
    const walkOr = (n: FilterNode): void => {
      if (n.t === 'or' || n.t === 'in' || n.t === 'any') {
        const c = countClauses(n);
        if (c > ctx.maxClauses) throw unsupportedQuery(`Too many child clauses specified in search filter expression containing 'OR' operators: ${c}. Max allowed: ${ctx.maxClauses}.`);
      }
      if (n.t === 'and') {
        walkOr(n.l);
        walkOr(n.r);
      } else if (n.t === 'not') walkOr(n.e);
    };
    walkOr(node);
  }
  const build = (n: FilterNode): Predicate => {
    switch (n.t) {
      case 'and': {
        const l = build(n.l);
        const r = build(n.r);
        return (o) => l(o) && r(o);
      }
      case 'or': {
        const l = build(n.l);
        const r = build(n.r);
        return (o) => l(o) || r(o);
      }
      case 'not': {
        if (!ctx.advanced) throw advancedOperatorError('not');
        const e = build(n.e);
        return (o) => !e(o);
      }
      case 'cmp': {
        const { def, type } = lookupProp(n.prop, ctx);
        const caps: FilterCaps = def.filter ?? {};
        if (def.kind === 'stringArray' || def.kind === 'array' || def.kind === 'object') throw clauseError(def.name, type);
        checkLiteralType(def, n.value, type);
        const get = getter(def);
        if (n.value.kind === 'null') {
          requireCap(n.op === 'eq' ? caps.eq : n.op === 'ne' ? caps.ne : undefined, ctx, def.name, type, null);
          if (!ctx.advanced) throw clauseError(def.name, type);
          return n.op === 'eq' ? (o) => get(o) == null : (o) => get(o) != null;
        }
        if (n.op === 'eq') {
          requireCap(caps.eq, ctx, def.name, type, null);
          return (o) => eqValue(get(o), n.value, def);
        }
        if (n.op === 'ne') {
          if (!caps.ne) throw clauseError(def.name, type);
          if (!ctx.advanced) throw advancedOperatorError('ne');
          return (o) => !eqValue(get(o), n.value, def);
        }
        requireCap(caps.range, ctx, def.name, type, null);
        const op = n.op;
        return (o) => {
          const c = compare(get(o), n.value, def);
          if (c === null || Number.isNaN(c)) return false;
          return op === 'gt' ? c > 0 : op === 'ge' ? c >= 0 : op === 'lt' ? c < 0 : c <= 0;
        };
      }
      case 'in': {
        const { def, type } = lookupProp(n.prop, ctx);
        if (def.kind === 'stringArray' || def.kind === 'array' || def.kind === 'object') throw clauseError(def.name, type);
        const caps = def.filter ?? {};
        requireCap(caps.in ?? caps.eq, ctx, def.name, type, null);
        for (const v of n.values) checkLiteralType(def, v, type);
        const get = getter(def);
        if (def.kind === 'string') {
          const set = new Set(n.values.map((v) => (v.kind === 'string' ? v.v.toLowerCase() : null)));
          return (o) => set.has(lower(get(o)));
        }
        return (o) => n.values.some((v) => eqValue(get(o), v, def));
      }
      case 'fn': {
        const { def, type } = lookupProp(n.prop, ctx);
        if (def.kind !== 'string') throw clauseError(def.name, type);
        const caps = def.filter ?? {};
        if (n.value.kind !== 'string') throw badRequest(`Invalid filter clause: the second argument of ${n.fn} must be a string.`);
        if (n.fn === 'startswith') requireCap(caps.startswith, ctx, def.name, type, null);
        else {
          if (!caps.endswith) throw clauseError(def.name, type);
          if (!ctx.advanced) throw advancedOperatorError('endsWith');
        }
        const get = getter(def);
        const needle = n.value.v.toLowerCase();
        return n.fn === 'startswith' ? (o) => lower(get(o))?.startsWith(needle) ?? false : (o) => lower(get(o))?.endsWith(needle) ?? false;
      }
      case 'any': {
        const { def, type } = lookupProp(n.prop, ctx);
        const caps = def.filter ?? {};
        if (def.kind !== 'stringArray' || !caps.any) throw clauseError(def.name, type);
        requireCap(caps.any, ctx, def.name, type, null);
        const inner = n.inner;
        if (inner.op === 'eq' || inner.op === 'in') requireCap(caps.eq, ctx, def.name, type, null);
        else if (inner.op === 'startswith') requireCap(caps.startswith, ctx, def.name, type, null);
        else if (inner.op === 'endswith') {
          if (!caps.endswith) throw clauseError(def.name, type);
          if (!ctx.advanced) throw advancedOperatorError('endsWith');
        } else {
          if (!ctx.advanced) throw advancedOperatorError('ne');
        }
        const vals = inner.values.map((v) => (v.kind === 'string' ? v.v.toLowerCase() : String(v.v)));
        const get = getter(def);
        return (o) => {
          const arr = get(o);
          if (!Array.isArray(arr)) return false;
          return arr.some((x) => {
            if (typeof x !== 'string') return false;
            const s = x.toLowerCase();
            switch (inner.op) {
              case 'eq':
              case 'in':
                return vals.includes(s);
              case 'ne':
                return s !== vals[0];
              case 'startswith':
                return s.startsWith(vals[0]!);
              case 'endswith':
                return s.endsWith(vals[0]!);
            }
          });
        };
      }
    }
  };
  return build(node);
}

/** Properties a filter references (used by delta's `id eq` check). */
export function filterIdsOnly(node: FilterNode): string[] | null {
  const ids: string[] = [];
  const walk = (n: FilterNode): boolean => {
    if (n.t === 'or') return walk(n.l) && walk(n.r);
    if (n.t === 'cmp' && n.op === 'eq' && n.prop.toLowerCase() === 'id' && n.value.kind === 'string') {
      ids.push(n.value.v.toLowerCase());
      return true;
    }
    if (n.t === 'in' && n.prop.toLowerCase() === 'id') {
      for (const v of n.values) if (v.kind === 'string') ids.push(v.v.toLowerCase());
      return true;
    }
    return false;
  };
  return walk(node) ? ids : null;
}

// ------------------------------------------------------------------------------------------------ $search
const SEARCHABLE: Record<EntityType, string[]> = {
  user: ['displayName', 'givenName', 'surname', 'mail', 'userPrincipalName', 'mailNickname', 'jobTitle', 'department', 'employeeId', 'proxyAddresses', 'otherMails', 'officeLocation', 'companyName'],
  group: ['displayName', 'description', 'mail', 'mailNickname', 'proxyAddresses'],
};

function tokens(s: string): string[] {
  return s.toLowerCase().split(/[\s.,;:_@'"()-]+/).filter(Boolean);
}

/** `$search="displayName:ada" OR "mail:zoe"`: word-prefix matching, like the directory's tokenized search. */
export function compileSearch(src: string, types: EntityType[]): Predicate {
  const clauses: { prop: string; words: string[] }[] = [];
  const ops: ('AND' | 'OR')[] = [];
  const re = /\s*"([^"]*)"\s*(AND|OR)?/gy;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(src)) !== null) {
    consumed = re.lastIndex;
    const body = m[1]!;
    const colon = body.indexOf(':');
    if (colon <= 0) throw badRequest(`Syntax error: character '${body[0] ?? '"'}' is not valid at position 0 in '${src}'.`);
    const prop = body.slice(0, colon);
    const known = types.flatMap((t) => SEARCHABLE[t]).find((p) => p.toLowerCase() === prop.toLowerCase());
    if (!known) throw badRequest(`Invalid search property '${prop}'.`);
    clauses.push({ prop: known, words: tokens(body.slice(colon + 1)) });
    if (m[2]) ops.push(m[2] as 'AND' | 'OR');
    else break;
  }
  if (clauses.length === 0 || src.slice(consumed).trim() !== '' || ops.length !== clauses.length - 1) {
    throw badRequest(`Syntax error: character '${src[consumed] ?? ''}' is not valid at position ${consumed} in '${src}'.`);
  }
  const match = (o: Queryable, c: { prop: string; words: string[] }): boolean => {
    const v = o.props[c.prop];
    const values = Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : [];
    return values.some((val) => {
      const toks = tokens(val);
      return c.words.every((w) => toks.some((t) => t.startsWith(w)));
    });
  };
  return (o) => {
    let acc = match(o, clauses[0]!);
    for (let i = 1; i < clauses.length; i++) acc = ops[i - 1] === 'AND' ? acc && match(o, clauses[i]!) : acc || match(o, clauses[i]!);
    return acc;
  };
}

// ------------------------------------------------------------------------------------------------ $orderby / $select
export interface OrderBy {
  prop: string;
  desc: boolean;
}
export function parseOrderBy(src: string, types: EntityType[], advanced: boolean, hasFilter: boolean): OrderBy[] {
  const parts = src.split(',').map((s) => s.trim()).filter(Boolean);
  const out: OrderBy[] = [];
  for (const p of parts) {
    const [name = '', dir = 'asc', extra] = p.split(/\s+/);
    if (extra !== undefined || !['asc', 'desc'].includes(dir.toLowerCase())) throw badRequest(`Syntax error at position ${p.length} in '${src}'.`);
    let def: PropDef | undefined;
    let type: EntityType = types[0]!;
    for (const t of types) {
      def = propsOf(t).get(name.toLowerCase());
      if (def) {
        type = t;
        break;
      }
    }
    if (!def) throw unknownProperty(name, types.length === 1 ? types[0]! : 'directoryObject');
    const byDefault = DEFAULT_ORDERBY[type].includes(def.name);
    if (!advanced && (!byDefault || hasFilter)) throw unsupportedQuery('Sorting not supported for current query.');
    if (def.kind === 'stringArray' || def.kind === 'array' || def.kind === 'object') throw unsupportedQuery('Sorting not supported for current query.');
    out.push({ prop: def.name, desc: dir.toLowerCase() === 'desc' });
  }
  return out;
}

export function sortBy(list: Queryable[], order: OrderBy[]): Queryable[] {
  const key = (o: Queryable, p: string): string => {
    const v = p === 'id' ? o.id : o.props[p];
    return v === null || v === undefined ? '' : String(v).toLowerCase();
  };
  return [...list].sort((a, b) => {
    for (const o of order) {
      const x = key(a, o.prop);
      const y = key(b, o.prop);
      if (x !== y) {
        // nulls last in both directions, like the directory
        if (x === '') return 1;
        if (y === '') return -1;
        return (x < y ? -1 : 1) * (o.desc ? -1 : 1);
      }
    }
    return 0;
  });
}

/**
 * Resolves $select names to canonical property names for the given types. Unknown names answer 400;
 * single-object-only properties answer 501 on lists.
 */
export function parseSelect(src: string, types: EntityType[], isList: boolean, extra: string[] = []): string[] {
  const names = src.split(',').map((s) => s.trim()).filter(Boolean);
  const out: string[] = [];
  for (const n of names) {
    const x = extra.find((e) => e.toLowerCase() === n.toLowerCase());
    if (x) {
      if (!out.includes(x)) out.push(x);
      continue;
    }
    let def: PropDef | undefined;
    for (const t of types) {
      def = propsOf(t).get(n.toLowerCase());
      if (def) break;
    }
    if (!def) throw unknownProperty(n, types.length === 1 ? types[0]! : 'directoryObject');
    if (def.singleOnly && isList) throw new GraphFailure(501, 'NotImplemented', `The property '${def.name}' is only supported when retrieving a single object.`);
    if (!out.includes(def.name)) out.push(def.name);
  }
  return out;
}
