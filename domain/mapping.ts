import { type Config, type ScopeConfig, type TargetConfig, managedGroups } from './config';
import { compileExpression, type Value } from './expression';
import { checkIamTags, IAM_GROUP_NAME_MAX, IamNameError, isIamName, toIamName, toIamTagValue } from './iam-names';
import { checkScimAttributePaths } from './scim-attributes';
import { CORE_USER_ATTRIBUTES, SOURCE_USER_ATTRIBUTES } from './source-attributes';
import type { DesiredAccount, SourceIdentity } from './types';

/** A target's mappings, parsed and checked once when the config loads. */
export interface CompiledTarget {
  name: string;
  config: TargetConfig;
  userName: Compiled;
  attributes: { name: string; apply: 'always' | 'createOnly'; compiled: Compiled }[];
  managedGroups: string[];
  /** Source attributes this target's mappings and scope read: all it may receive. */
  sourceAttributes: string[];
}

interface Compiled {
  source: string;
  attributes: string[];
  evaluate(attrs: Readonly<Record<string, Value | undefined>>): Value;
}

export class MappingError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(`${path}: ${message}`);
    this.name = 'MappingError';
  }
}

/** Compiles every expression of every target; collects all problems before failing. */
export function compileTargets(config: Config): CompiledTarget[] {
  const problems: MappingError[] = [];
  const compile = (path: string, source: string): Compiled => {
    try {
      return { source, ...compileExpression(source, SOURCE_USER_ATTRIBUTES) };
    } catch (err) {
      problems.push(new MappingError(path, (err as Error).message));
      return { source, attributes: [], evaluate: () => null };
    }
  };
  const targets = Object.entries(config.targets).map(([name, target]): CompiledTarget => {
    const userName = compile(`targets.${name}.userName`, target.userName);
    const attributes = Object.entries(target.attributes).map(([attr, mapping]) => {
      const { expr, apply } = typeof mapping === 'string' ? { expr: mapping, apply: 'always' as const } : mapping;
      return { name: attr, apply, compiled: compile(`targets.${name}.attributes.${attr}`, expr) };
    });
    for (const problem of targetAttributeProblems(target)) problems.push(new MappingError(`targets.${name}.attributes.${problem.attribute}`, problem.message));
    for (const problem of groupNameProblems(target)) problems.push(new MappingError(`targets.${name}.groups.map.${problem.sourceGroup}`, problem.message));
    for (const [i, filter] of target.scope.filters.entries()) {
      if (!SOURCE_USER_ATTRIBUTES.has(filter.attribute)) {
        problems.push(new MappingError(`targets.${name}.scope.filters.${i}.attribute`, `unknown source attribute "${filter.attribute}"`));
      }
    }
    const sourceAttributes = new Set<string>([
      ...userName.attributes,
      ...attributes.flatMap((a) => a.compiled.attributes),
      ...target.scope.filters.map((f) => f.attribute),
    ]);
    return { name, config: target, userName, attributes, managedGroups: managedGroups(target), sourceAttributes: [...sourceAttributes].sort() };
  });
  if (problems.length > 0) throw new AggregateMappingError(problems);
  return targets;
}

/** Target group names the target cannot hold (IAM: 1-128 of letters, digits and +=,.@_-), caught at config load. */
function groupNameProblems(target: TargetConfig): { sourceGroup: string; message: string }[] {
  if (target.type !== 'aws-iam') return [];
  return Object.entries(target.groups.map).flatMap(([sourceGroup, mapped]) =>
    (Array.isArray(mapped) ? mapped : [mapped]).flatMap((group) => {
      if (isIamName(group, IAM_GROUP_NAME_MAX)) return [];
      if (group.length > IAM_GROUP_NAME_MAX) return [{ sourceGroup, message: `IAM group name "${group.slice(0, 40)}…" is longer than ${IAM_GROUP_NAME_MAX} characters` }];
      return [{ sourceGroup, message: `"${group}" is not a legal IAM group name: only letters, digits and + = , . @ _ - are allowed` }];
    }),
  );
}

/** Target attribute names the target cannot take, caught at config load rather than at the first write. */
function targetAttributeProblems(target: TargetConfig): { attribute: string; message: string }[] {
  const names = Object.keys(target.attributes);
  if (target.type === 'scim') {
    return names.flatMap((attribute) => checkScimAttributePaths([attribute]).map((message) => ({ attribute, message })));
  }
  const problems: { attribute: string; message: string }[] = [];
  for (const name of names) {
    if (/^(idflow|aws):/i.test(name)) problems.push({ attribute: name, message: `tag key "${name}" is reserved (idflow: for idflow's own markers, aws: for AWS)` });
    else for (const message of checkIamTags({ [name]: '' })) problems.push({ attribute: name, message });
  }
  return problems;
}

export class AggregateMappingError extends Error {
  constructor(readonly problems: MappingError[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'AggregateMappingError';
  }
}

/** The Graph `$select`: what the enabled targets need, plus what identity and lifecycle need. */
export function graphSelect(targets: CompiledTarget[]): string[] {
  const wanted = new Set<string>(CORE_USER_ATTRIBUTES);
  for (const t of targets) if (t.config.enabled) for (const a of t.sourceAttributes) wanted.add(a);
  return [...wanted].sort();
}

/**
 * The source groups any enabled target's scope or group map names. Only memberships in these are
 * read and carried: group minimisation, like attribute minimisation.
 */
export function referencedGroups(targets: CompiledTarget[]): string[] {
  const names = new Set<string>();
  for (const t of targets) {
    if (!t.config.enabled) continue;
    for (const g of t.config.scope.groups ?? []) names.add(g);
    for (const g of Object.keys(t.config.groups.map)) names.add(g);
  }
  return [...names].sort();
}

export interface ScopeDecision {
  inScope: boolean;
  reason: string;
}

/** Whether one identity belongs in one target, and why. */
export function evaluateScope(identity: SourceIdentity, scope: ScopeConfig): ScopeDecision {
  if (!scope.includeDisabled && !identity.accountEnabled) return { inScope: false, reason: 'account disabled in Entra ID' };
  if (scope.groups && scope.groups.length > 0) {
    const member = identity.groups.find((g) => scope.groups!.includes(g.displayName) || scope.groups!.includes(g.id));
    if (!member) return { inScope: false, reason: `not a member of ${scope.groups.map((g) => `"${g}"`).join(' or ')}` };
  }
  for (const filter of scope.filters) {
    const raw = filter.attribute in identity.attributes ? identity.attributes[filter.attribute] : (identity as unknown as Record<string, unknown>)[filter.attribute];
    const value = raw === null || raw === undefined ? null : String(raw);
    const expected = filter.value;
    const list = Array.isArray(expected) ? expected : expected === undefined ? [] : [String(expected)];
    const holds = (() => {
      switch (filter.op) {
        case 'eq': return value !== null && value === String(expected);
        case 'ne': return value !== String(expected);
        case 'in': return value !== null && list.includes(value);
        case 'notIn': return value === null || !list.includes(value);
        case 'startsWith': return value !== null && value.startsWith(String(expected));
        case 'present': return value !== null && value !== '';
        case 'absent': return value === null || value === '';
      }
    })();
    if (!holds) return { inScope: false, reason: `scope filter ${filter.attribute} ${filter.op}${expected === undefined ? '' : ` ${JSON.stringify(expected)}`} does not hold (value ${JSON.stringify(value)})` };
  }
  return { inScope: true, reason: 'in scope' };
}

export type DesiredResult =
  | { kind: 'account'; account: DesiredAccount; scope: ScopeDecision }
  | { kind: 'outOfScope'; scope: ScopeDecision }
  | { kind: 'invalid'; problems: string[] };

/** Turns a source identity into the account one target should hold, or says why it should hold none. */
export function desiredAccount(identity: SourceIdentity, target: CompiledTarget): DesiredResult {
  const scope = evaluateScope(identity, target.config.scope);
  if (!scope.inScope) return { kind: 'outOfScope', scope };
  const attrs = { ...identity.attributes, id: identity.id, employeeId: identity.employeeId, userPrincipalName: identity.userPrincipalName, accountEnabled: identity.accountEnabled };
  const problems: string[] = [];
  const rawName = target.userName.evaluate(attrs);
  let userName = rawName === null ? '' : String(rawName).trim();
  if (userName === '') problems.push(`userName expression ${JSON.stringify(target.userName.source)} gave no value`);
  else if (target.config.type === 'aws-iam') {
    try {
      userName = toIamName(userName);
    } catch (err) {
      if (err instanceof IamNameError) problems.push(err.message);
      else throw err;
    }
  }
  const attributes: Record<string, string> = {};
  for (const a of target.attributes) {
    const value = a.compiled.evaluate(attrs);
    if (value === null || value === '') continue;
    attributes[a.name] = target.config.type === 'aws-iam' ? toIamTagValue(String(value)) : String(value);
  }
  const groups = identity.accountEnabled ? mapGroups(identity, target) : [];
  if (problems.length > 0) return { kind: 'invalid', problems };
  return {
    kind: 'account',
    scope,
    account: {
      userName,
      externalId: identity.id,
      employeeId: identity.employeeId,
      enabled: identity.accountEnabled,
      attributes,
      createOnlyAttributes: target.attributes.filter((a) => a.apply === 'createOnly').map((a) => a.name),
      managedAttributes: target.attributes.map((a) => a.name),
      groups,
    },
  };
}

/** Target groups from the person's transitive source groups; disabled accounts hold none. */
export function mapGroups(identity: SourceIdentity, target: CompiledTarget): string[] {
  const result = new Set<string>();
  for (const [source, mapped] of Object.entries(target.config.groups.map)) {
    if (identity.groups.some((g) => g.displayName === source || g.id === source)) {
      for (const name of Array.isArray(mapped) ? mapped : [mapped]) result.add(name);
    }
  }
  return [...result].sort();
}
