import type { AttributeChange } from '../../domain/plan';

/**
 * The mapping between idflow's flat attributes (`Record<string, string>` keyed by SCIM attribute
 * paths) and SCIM 2.0 User resources (RFC 7643 core User + enterprise extension).
 *
 * Supported paths, in their canonical spelling (the only spelling accepted in config):
 * - core, single-valued: displayName, nickName, profileUrl, title, userType, preferredLanguage, locale, timezone
 * - name: name.formatted, name.familyName, name.givenName, name.middleName, name.honorificPrefix, name.honorificSuffix
 * - multi-valued, selected by type: emails[type eq "T"].value, phoneNumbers[type eq "T"].value,
 *   ims[type eq "T"].value, photos[type eq "T"].value,
 *   addresses[type eq "T"].(formatted|streetAddress|locality|region|postalCode|country)
 * - enterprise extension: urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:(employeeNumber|costCenter|organization|division|department)
 *
 * userName, externalId and active are not attributes: the connector owns them.
 */

export const SCIM_CORE_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_ENTERPRISE_USER = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCIM_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCIM_PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const SIMPLE = ['displayName', 'nickName', 'profileUrl', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone'];
const NAME_SUBS = ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix'];
const MULTI: Record<string, string[]> = {
  emails: ['value'],
  phoneNumbers: ['value'],
  ims: ['value'],
  photos: ['value'],
  addresses: ['formatted', 'streetAddress', 'locality', 'region', 'postalCode', 'country'],
};
const ENTERPRISE = ['employeeNumber', 'costCenter', 'organization', 'division', 'department'];

export type ScimPath =
  | { kind: 'simple'; attr: string }
  | { kind: 'name'; sub: string }
  /** An entry of a multi-valued attribute: the one of a type, or the primary one (RFC 7643 §2.4). */
  | { kind: 'multi'; attr: string; entry: EntrySelector; sub: string }
  | { kind: 'enterprise'; attr: string };

/** Which entry of a multi-valued attribute: of a type, the primary one, or the one without a type. */
export type EntrySelector = { type: string } | { primary: true } | { untyped: true };

export type ScimResource = Record<string, unknown> & { id?: string };
export type PatchOperation = { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown };

const canon = (list: readonly string[], name: string) => list.find((x) => x.toLowerCase() === name.toLowerCase());

/** Parses a path (attribute names case-insensitive, as in SCIM); null when it is not supported. */
export function parseScimPath(path: string): ScimPath | null {
  const ext = `${SCIM_ENTERPRISE_USER}:`;
  if (path.toLowerCase().startsWith(ext.toLowerCase())) {
    const attr = canon(ENTERPRISE, path.slice(ext.length));
    return attr ? { kind: 'enterprise', attr } : null;
  }
  const multi = /^([A-Za-z]+)\[\s*(?:type\s+eq\s+"([^"\\]+)"|(primary)\s+eq\s+true|(not)\s*\(\s*type\s+pr\s*\))\s*\]\.([A-Za-z]+)$/i.exec(path);
  if (multi) {
    const attr = canon(Object.keys(MULTI), multi[1]!);
    const sub = attr ? canon(MULTI[attr]!, multi[5]!) : undefined;
    const entry: EntrySelector = multi[3] ? { primary: true } : multi[4] ? { untyped: true } : { type: multi[2]! };
    return attr && sub ? { kind: 'multi', attr, entry, sub } : null;
  }
  const dotted = /^name\.([A-Za-z]+)$/i.exec(path);
  if (dotted) {
    const sub = canon(NAME_SUBS, dotted[1]!);
    return sub ? { kind: 'name', sub } : null;
  }
  const attr = canon(SIMPLE, path);
  return attr ? { kind: 'simple', attr } : null;
}

export function formatScimPath(p: ScimPath): string {
  switch (p.kind) {
    case 'simple': return p.attr;
    case 'name': return `name.${p.sub}`;
    case 'multi': return `${entryPath(p.attr, p.entry)}.${p.sub}`;
    case 'enterprise': return `${SCIM_ENTERPRISE_USER}:${p.attr}`;
  }
}

/** Problems with attribute paths from config: unsupported, or not in canonical spelling. */
export function checkScimAttributePaths(paths: readonly string[]): string[] {
  const problems: string[] = [];
  for (const path of paths) {
    const p = parseScimPath(path);
    if (!p) problems.push(`"${path}" is not a supported SCIM attribute path (see docs/targets.md)`);
    else if (formatScimPath(p) !== path) problems.push(`"${path}" must be written "${formatScimPath(p)}"`);
  }
  return problems;
}

/** Case-insensitive property lookup, as SCIM attribute names are. */
export function prop(obj: unknown, name: string): unknown {
  if (!obj || typeof obj !== 'object') return undefined;
  const rec = obj as Record<string, unknown>;
  if (name in rec) return rec[name];
  const key = Object.keys(rec).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : rec[key];
}

function entriesOf(resource: ScimResource, attr: string): Record<string, unknown>[] {
  const v = prop(resource, attr);
  return Array.isArray(v) ? (v.filter((e) => e && typeof e === 'object') as Record<string, unknown>[]) : [];
}

/** `emails[type eq "work"]`, `emails[primary eq true]`, `emails[not(type pr)]`: a value filter selecting one entry (RFC 7644 §3.4.2.2, §3.5.2). */
function entryPath(attr: string, entry: EntrySelector): string {
  if ('primary' in entry) return `${attr}[primary eq true]`;
  if ('untyped' in entry) return `${attr}[not(type pr)]`;
  return `${attr}[type eq "${entry.type}"]`;
}

const typeOf = (e: Record<string, unknown>): string => String(prop(e, 'type') ?? '');

function entryOf(resource: ScimResource, attr: string, entry: EntrySelector): Record<string, unknown> | undefined {
  const all = entriesOf(resource, attr);
  if ('primary' in entry) return all.find((e) => prop(e, 'primary') === true);
  if ('untyped' in entry) return all.find((e) => typeOf(e) === '');
  return all.find((e) => typeOf(e).toLowerCase() === entry.type.toLowerCase());
}

/** The value a path has in a resource, as a string, or undefined. */
export function getScimValue(resource: ScimResource, p: ScimPath): string | undefined {
  let v: unknown;
  switch (p.kind) {
    case 'simple': v = prop(resource, p.attr); break;
    case 'name': v = prop(prop(resource, 'name'), p.sub); break;
    case 'multi': v = prop(entryOf(resource, p.attr, p.entry), p.sub); break;
    case 'enterprise': v = prop(prop(resource, SCIM_ENTERPRISE_USER), p.attr); break;
  }
  if (v === undefined || v === null || typeof v === 'object') return undefined;
  return String(v);
}

/** A new User resource: core schema always, the enterprise extension when an attribute needs it. */
export function toScimUser(userName: string, externalId: string, active: boolean, attributes: Record<string, string>): ScimResource {
  const r: ScimResource = { schemas: [SCIM_CORE_USER], userName, externalId, active };
  for (const [path, value] of Object.entries(attributes)) {
    const p = parseScimPath(path);
    if (!p) throw new Error(`unsupported SCIM attribute path "${path}"`);
    switch (p.kind) {
      case 'simple': r[p.attr] = value; break;
      case 'name': r.name = { ...(r.name as object | undefined), [p.sub]: value }; break;
      case 'enterprise': r[SCIM_ENTERPRISE_USER] = { ...(r[SCIM_ENTERPRISE_USER] as object | undefined), [p.attr]: value }; break;
      case 'multi': {
        const list = (r[p.attr] as Record<string, unknown>[] | undefined) ?? [];
        const entry = entryOf({ [p.attr]: list }, p.attr, p.entry);
        if (entry) entry[p.sub] = value;
        else list.push({ ...('untyped' in p.entry ? {} : p.entry), [p.sub]: value });
        r[p.attr] = list;
        break;
      }
    }
  }
  if (r[SCIM_ENTERPRISE_USER]) (r.schemas as string[]).push(SCIM_ENTERPRISE_USER);
  return r;
}

/** Every supported attribute a resource carries, keyed by canonical path; multi-valued entries by their type. */
export function fromScimUser(resource: ScimResource): Record<string, string> {
  const out: Record<string, string> = {};
  const put = (p: ScimPath) => {
    const v = getScimValue(resource, p);
    if (v !== undefined) out[formatScimPath(p)] = v;
  };
  for (const attr of SIMPLE) put({ kind: 'simple', attr });
  for (const sub of NAME_SUBS) put({ kind: 'name', sub });
  for (const attr of ENTERPRISE) put({ kind: 'enterprise', attr });
  for (const [attr, subs] of Object.entries(MULTI)) {
    for (const e of entriesOf(resource, attr)) {
      const type = prop(e, 'type');
      if (typeof type === 'string' && type !== '') for (const sub of subs) put({ kind: 'multi', attr, entry: { type }, sub });
      if (prop(e, 'primary') === true) for (const sub of subs) put({ kind: 'multi', attr, entry: { primary: true }, sub });
      if (typeOf(e) === '') for (const sub of subs) put({ kind: 'multi', attr, entry: { untyped: true }, sub });
    }
  }
  return out;
}

/**
 * PATCH operations for attribute changes, against the resource as it is now: `replace` for a value
 * (a filtered path only when the typed entry exists, else `add` of a new entry, since replace on a
 * filter that matches nothing is a 400 noTarget), `remove` only for what is there.
 */
export function scimPatchOperations(resource: ScimResource, changes: readonly AttributeChange[]): PatchOperation[] {
  const ops: PatchOperation[] = [];
  const newEntries = new Map<string, { attr: string; entry: Record<string, unknown> }>();
  for (const change of changes) {
    const p = parseScimPath(change.attribute);
    if (!p) throw new Error(`unsupported SCIM attribute path "${change.attribute}"`);
    const path = formatScimPath(p);
    const current = getScimValue(resource, p);
    if (current === (change.to ?? undefined)) continue; // already as wanted (changed meanwhile, or a retry)
    const present = current !== undefined;
    if (p.kind !== 'multi') {
      if (change.to === null) {
        if (present) ops.push({ op: 'remove', path });
      } else ops.push({ op: 'replace', path, value: change.to });
      continue;
    }
    const entry = entryOf(resource, p.attr, p.entry);
    if (change.to === null) {
      if (!present) continue;
      // Removing the only thing in an entry removes the entry, not just its field.
      const others = Object.keys(entry!).filter((k) => k.toLowerCase() !== 'type' && k.toLowerCase() !== 'primary' && k.toLowerCase() !== p.sub.toLowerCase());
      ops.push({ op: 'remove', path: others.length === 0 ? entryPath(p.attr, p.entry) : path });
    } else if (entry) ops.push({ op: 'replace', path, value: change.to });
    else {
      const key = `${entryPath(p.attr, p.entry)}`;
      const pending = newEntries.get(key) ?? { attr: p.attr, entry: ('untyped' in p.entry ? {} : { ...p.entry }) as Record<string, unknown> };
      pending.entry[p.sub] = change.to;
      newEntries.set(key, pending);
    }
  }
  for (const { attr, entry } of newEntries.values()) ops.push({ op: 'add', path: attr, value: [entry] });
  return ops;
}
