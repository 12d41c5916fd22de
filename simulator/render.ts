/** Turning directory records into Graph JSON. */
import { GroupRec, MemberObject, OtherRec, UserRec } from './directory';
import { emptyValue, GROUP_DEFAULT_SELECT, GROUP_PROPS, USER_DEFAULT_SELECT, USER_PROPS } from './schema';
import { JsonObject } from './util';

export const ODATA_TYPE = {
  user: '#microsoft.graph.user',
  group: '#microsoft.graph.group',
  servicePrincipal: '#microsoft.graph.servicePrincipal',
  device: '#microsoft.graph.device',
  orgContact: '#microsoft.graph.orgContact',
} as const;

export interface RenderOptions {
  /** Canonical property names; null = the type's default set. */
  select: string[] | null;
  /** Prefix "@odata.type" (directoryObject collections). */
  withType?: boolean;
  /** Leave out properties whose value is null (delta: never-set properties are omitted). */
  omitNull?: boolean;
  /** Property names to keep even when null (delta: properties cleared in this round). */
  keepNull?: Set<string>;
}

export function renderUser(u: UserRec, o: RenderOptions): JsonObject {
  const out: JsonObject = {};
  if (o.withType) out['@odata.type'] = ODATA_TYPE.user;
  const names = o.select ?? USER_DEFAULT_SELECT;
  for (const n of names) {
    if (n === 'id') {
      out.id = u.id;
      continue;
    }
    const def = USER_PROPS.get(n.toLowerCase());
    if (!def || def.writeOnly) continue;
    const v = u.props[def.name];
    const val = v === undefined ? emptyValue(def) : v;
    if (val === null && o.omitNull && !o.keepNull?.has(def.name)) continue;
    out[def.name] = val;
  }
  if (!('id' in out)) out.id = u.id; // Graph returns the id even when $select leaves it out
  return out;
}

export function renderGroup(g: GroupRec, o: RenderOptions): JsonObject {
  const out: JsonObject = {};
  if (o.withType) out['@odata.type'] = ODATA_TYPE.group;
  const names = o.select ?? GROUP_DEFAULT_SELECT;
  for (const n of names) {
    if (n === 'id') {
      out.id = g.id;
      continue;
    }
    const def = GROUP_PROPS.get(n.toLowerCase());
    if (!def) continue;
    const v = g.props[def.name];
    const val = v === undefined ? emptyValue(def) : v;
    if (val === null && o.omitNull && !o.keepNull?.has(def.name)) continue;
    out[def.name] = val;
  }
  if (!('id' in out)) out.id = g.id;
  return out;
}

/** Only id and displayName: a select naming a user's or a group's properties finds nothing else on them. */
export function renderOther(x: OtherRec, o: RenderOptions): JsonObject {
  const out: JsonObject = {};
  if (o.withType) out['@odata.type'] = ODATA_TYPE[x.type];
  out.id = x.id;
  if (!o.select || o.select.includes('displayName')) out.displayName = x.props.displayName ?? null;
  return out;
}

export function renderObject(obj: MemberObject, o: RenderOptions): JsonObject {
  return obj.type === 'user' ? renderUser(obj, o) : obj.type === 'group' ? renderGroup(obj, o) : renderOther(obj, o);
}
