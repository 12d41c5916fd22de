import { type Config, type ScopeConfig, type TargetConfig, managedGroups } from './config';
import { compileExpression, type Value } from './expression';
import type { DesiredAccount, SourceIdentity } from './types';

/**
 * What one target kind decides about names and values. Each kind's rules live with it
 * (targets/<kind>/rules.ts) and reach the mapping through the registry, so domain/ names no vendor.
 */
export interface TargetRules {
  /** Problems with the target attribute names a mapping writes, caught at config load rather than at the first write. */
  attributeProblems(names: readonly string[]): { attribute: string; message: string }[];
  /** Why the target cannot hold a group of this name, or null. */
  groupNameProblem(group: string): string | null;
  /** The account name as the target can hold it; throws AccountNameError when none can be made. */
  accountName(derived: string): string;
  /** An attribute value as the target can hold it. */
  attributeValue(value: string): string;
}

/** A derived account name the target cannot hold in any form: the person is invalid for that target. */
export class AccountNameError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccountNameError';
  }
}

/** What the configured source offers a mapping (sources/<kind>/): the attributes it may read, and those always read. */
export interface SourceCatalogue {
  attributes: ReadonlySet<string>;
  /** Read for every person and always in their attributes, whatever the mappings name (Entra ID: userPrincipalName, accountEnabled). */
  core: readonly string[];
}

/** The plug-ins a config is compiled against: the source's catalogue and each target kind's rules. */
export interface MappingPlugins {
  catalogueFor(kind: string): SourceCatalogue;
  rulesFor(kind: string): TargetRules;
}

/** A target's mappings, parsed and checked once when the config loads. */
export interface CompiledTarget {
  name: string;
  config: TargetConfig;
  rules: TargetRules;
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
export function compileTargets(config: Config, plugins: MappingPlugins): CompiledTarget[] {
  const problems: MappingError[] = [];
  const known = plugins.catalogueFor(config.source.type).attributes;
  const compile = (path: string, source: string): Compiled => {
    try {
      return { source, ...compileExpression(source, known) };
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
    const rules = plugins.rulesFor(target.type);
    for (const problem of rules.attributeProblems(Object.keys(target.attributes))) problems.push(new MappingError(`targets.${name}.attributes.${problem.attribute}`, problem.message));
    for (const [sourceGroup, mapped] of Object.entries(target.groups.map)) {
      for (const group of Array.isArray(mapped) ? mapped : [mapped]) {
        const problem = rules.groupNameProblem(group);
        if (problem) problems.push(new MappingError(`targets.${name}.groups.map.${sourceGroup}`, problem));
      }
    }
    for (const [i, filter] of target.scope.filters.entries()) {
      if (!known.has(filter.attribute)) {
        problems.push(new MappingError(`targets.${name}.scope.filters.${i}.attribute`, `unknown source attribute "${filter.attribute}"`));
      }
    }
    const sourceAttributes = new Set<string>([
      ...userName.attributes,
      ...attributes.flatMap((a) => a.compiled.attributes),
      ...target.scope.filters.map((f) => f.attribute),
    ]);
    return { name, config: target, rules, userName, attributes, managedGroups: managedGroups(target), sourceAttributes: [...sourceAttributes].sort() };
  });
  if (problems.length > 0) throw new AggregateMappingError(problems);
  return targets;
}

export class AggregateMappingError extends Error {
  constructor(readonly problems: MappingError[]) {
    super(problems.map((p) => p.message).join('\n'));
    this.name = 'AggregateMappingError';
  }
}

/** The source attributes to read: what the enabled targets need, plus what identity and lifecycle need. */
export function sourceSelect(targets: CompiledTarget[], catalogue: SourceCatalogue): string[] {
  const wanted = new Set<string>(catalogue.core);
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
  if (!scope.includeDisabled && !identity.enabled) return { inScope: false, reason: 'account disabled in the source' };
  if (scope.groups && scope.groups.length > 0) {
    const member = identity.groups.find((g) => scope.groups!.includes(g.displayName) || scope.groups!.includes(g.id));
    if (!member) return { inScope: false, reason: `not a member of ${scope.groups.map((g) => `"${g}"`).join(' or ')}` };
  }
  for (const filter of scope.filters) {
    const raw = filter.attribute in identity.attributes ? identity.attributes[filter.attribute] : filter.attribute === 'id' ? identity.id : filter.attribute === 'employeeId' ? identity.employeeId : null;
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
  const attrs = { ...identity.attributes, id: identity.id, employeeId: identity.employeeId };
  const problems: string[] = [];
  const rawName = target.userName.evaluate(attrs);
  let userName = rawName === null ? '' : String(rawName).trim();
  if (userName === '') problems.push(`userName expression ${JSON.stringify(target.userName.source)} gave no value`);
  else {
    try {
      userName = target.rules.accountName(userName);
    } catch (err) {
      if (err instanceof AccountNameError) problems.push(err.message);
      else throw err;
    }
  }
  const attributes: Record<string, string> = {};
  for (const a of target.attributes) {
    const value = a.compiled.evaluate(attrs);
    if (value === null || value === '') continue;
    attributes[a.name] = target.rules.attributeValue(String(value));
  }
  const groups = identity.enabled ? mapGroups(identity, target) : [];
  if (problems.length > 0) return { kind: 'invalid', problems };
  return {
    kind: 'account',
    scope,
    account: {
      userName,
      externalId: identity.id,
      employeeId: identity.employeeId,
      enabled: identity.enabled,
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
