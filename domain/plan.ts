import type { ActualAccount, DesiredAccount } from './types';

/**
 * The plan engine: desired state against actual state gives ordered actions, each with its reason.
 * Pure and deterministic, so a dry run and a real run produce the same plan from the same code.
 */

export interface AttributeChange {
  attribute: string;
  from: string | null;
  to: string | null;
}

interface ActionBase {
  target: string;
  employeeId: string;
  userName: string;
  reason: string;
}

/** An action on one person's account: it carries the identity the account must be marked for. */
interface AccountActionBase extends ActionBase {
  externalId: string;
}

export type Action =
  | (ActionBase & { op: 'createGroup'; group: string })
  | (AccountActionBase & { op: 'rename'; accountId: string; /** The account's name now; `userName` is the new one. */ from: string })
  | (AccountActionBase & { op: 'create'; enabled: boolean; attributes: Record<string, string>; /** Take over an unmarked account of this name (config unmatched: adopt). */ adopt?: boolean })
  | (AccountActionBase & { op: 'update'; accountId: string; changes: AttributeChange[] })
  | (AccountActionBase & { op: 'enable'; accountId: string })
  | (AccountActionBase & { op: 'addMember'; group: string })
  | (AccountActionBase & { op: 'removeMember'; group: string })
  | (AccountActionBase & { op: 'disable'; accountId: string })
  | (AccountActionBase & { op: 'delete'; accountId: string });

export type ActionOp = Action['op'];

/**
 * Order of application: groups exist before members join; an account is renamed before anything
 * addresses it by its new name; access is revoked before accounts go.
 */
export const ACTION_ORDER: readonly ActionOp[] = ['createGroup', 'rename', 'create', 'update', 'enable', 'addMember', 'removeMember', 'disable', 'delete'];

export interface Finding {
  kind: 'unowned' | 'conflict' | 'invalid' | 'tooManyGroups' | 'missingGroup';
  target: string;
  employeeId: string;
  userName: string;
  detail: string;
}

export interface AccountPlan {
  actions: Action[];
  findings: Finding[];
}

export interface PlanInput {
  target: string;
  employeeId: string;
  /**
   * The source identity's id: the person. Their account is the one marked with it, whatever its
   * name; null only when the source never told idflow (then no account can be theirs).
   */
  externalId: string | null;
  /** The account the source says should exist, or null when none should (out of scope, gone, leaver). */
  desired: DesiredAccount | null;
  /** Why no account is desired; recorded as the reason for a disable or delete. */
  absentReason?: string;
  /** What leaving scope does. */
  onAbsent: 'disable' | 'delete' | 'ignore';
  /** What matchAccount found: the person's account, or an account holding the desired name. */
  actual: ActualAccount | null;
  /** Another account that holds the desired name (case-insensitively) while `actual` is the person's: a rename onto it is refused. */
  nameHolder?: ActualAccount | null;
  /** Target groups idflow manages for this target; memberships elsewhere are never touched. */
  managedGroups: readonly string[];
  /** Managed groups that already exist in the target. */
  existingGroups: ReadonlySet<string>;
  createMissingGroups: boolean;
  /** The target's limit on groups per user, if it has one. */
  maxGroupsPerUser?: number;
  /** Config `unmatched: adopt`: an existing account of the same name that nobody marked is taken over. */
  adoptUnmatched?: boolean;
}

/**
 * Whether a fresh plan after the writes says the account is right. No actions left is not enough: an
 * account idflow cannot own, or one that is another person's, is no success however little is left to do.
 */
export function verification(plan: AccountPlan): { verified: boolean; findings: string[] } {
  const findings = plan.findings.filter((f) => f.kind === 'unowned' || f.kind === 'conflict').map((f) => `${f.kind}: ${f.detail}`);
  return { verified: plan.actions.length === 0 && findings.length === 0, findings };
}

export function planAccount(input: PlanInput): AccountPlan {
  const { target, employeeId, desired } = input;
  let { actual } = input;
  // An unmatched account carrying nobody's marker may be adopted; one marked by anyone else never is.
  const adopt = Boolean(input.adoptUnmatched && desired && actual && !actual.owned && actual.externalId === null);
  if (adopt) actual = null;
  const findings: Finding[] = [];
  const finding = (kind: Finding['kind'], detail: string) => findings.push({ target, employeeId, userName: desired?.userName ?? actual?.userName ?? employeeId, kind, detail });

  if (actual && !actual.owned) {
    finding('unowned', `an account named "${actual.userName}" exists that idflow does not own; it is left untouched`);
    return { actions: [], findings };
  }
  // Whatever the path (create, update, leaver, purge, out of scope): never another identity's account.
  if (actual && (input.externalId === null || actual.externalId !== input.externalId)) {
    finding('conflict', `account "${actual.userName}" belongs to another identity (externalId ${actual.externalId ?? '(none)'}); it is left untouched`);
    return { actions: [], findings };
  }
  const externalId = input.externalId;
  if (externalId === null) return { actions: [], findings };

  if (!desired) {
    if (!actual) return { actions: [], findings };
    const base = { target, employeeId, userName: actual.userName, externalId };
    const actions: Action[] = [];
    const why = input.absentReason ?? 'no longer in the source';
    if (input.onAbsent === 'delete') actions.push({ ...base, op: 'delete', accountId: actual.id, reason: `${why}; policy deletes` });
    else if (input.onAbsent === 'disable' && actual.enabled) actions.push({ ...base, op: 'disable', accountId: actual.id, reason: `${why}; policy disables` });
    else if (input.onAbsent === 'disable') {
      for (const group of managedMemberships(actual, input.managedGroups)) {
        actions.push({ ...base, op: 'removeMember', group, reason: `${why}; a disabled account holds no groups` });
      }
    }
    return { actions, findings };
  }

  if (input.maxGroupsPerUser !== undefined) {
    // Groups idflow does not manage count against the limit too: they stay.
    const managed = new Set(input.managedGroups);
    const kept = actual ? actual.groups.filter((g) => !managed.has(g)).length : 0;
    if (desired.groups.length + kept > input.maxGroupsPerUser) {
      finding('tooManyGroups', `${desired.groups.length} mapped groups${kept ? ` plus ${kept} groups idflow does not manage` : ''} exceed the target's limit of ${input.maxGroupsPerUser} groups per user: nothing was written for this identity`);
      return { actions: [], findings };
    }
  }

  const actions: Action[] = [];
  const missing = desired.groups.filter((g) => !input.existingGroups.has(g));
  if (missing.length > 0 && !input.createMissingGroups) {
    for (const g of missing) finding('missingGroup', `group "${g}" does not exist and createMissing is off`);
    return { actions, findings };
  }
  for (const group of missing) actions.push({ target, employeeId, userName: desired.userName, op: 'createGroup', group, reason: 'mapped group does not exist yet' });

  if (!actual) {
    const base = { target, employeeId, userName: desired.userName, externalId };
    actions.push({
      ...base,
      op: 'create',
      enabled: desired.enabled,
      attributes: desired.attributes,
      ...(input.adoptUnmatched ? { adopt: true } : {}),
      reason: adopt ? `in scope; adopting the unmatched account "${input.actual!.userName}" (config unmatched: adopt)` : 'in scope and no account exists',
    });
    for (const group of desired.groups) actions.push({ ...base, op: 'addMember', group, reason: 'mapped from a source group' });
    return { actions: sortActions(actions), findings };
  }

  // The person's account under another name: renamed in place, never a second account.
  let userName = actual.userName;
  if (actual.userName !== desired.userName) {
    const holder = input.nameHolder && input.nameHolder.id !== actual.id ? input.nameHolder : null;
    if (holder) {
      finding('conflict', `cannot rename "${actual.userName}" to "${desired.userName}": that name is held by ${holder.owned ? `another identity's account (externalId ${holder.externalId ?? '(none)'})` : 'an account idflow does not own'}; the account keeps its name and is otherwise kept in step`);
    } else {
      actions.push({ target, employeeId, userName: desired.userName, externalId, op: 'rename', accountId: actual.id, from: actual.userName, reason: `the account's name "${actual.userName}" is not the derived name "${desired.userName}" (renamed in the source, or by hand in the target): renamed in place` });
      userName = desired.userName;
    }
  }
  const base = { target, employeeId, userName, externalId };
  const changes = attributeChanges(desired, actual);
  if (changes.length > 0) {
    actions.push({ ...base, op: 'update', accountId: actual.id, changes, reason: changes.map((c) => `${c.attribute} ${fmt(c.from)} -> ${fmt(c.to)}`).join(', ') });
  }
  if (desired.enabled && !actual.enabled) actions.push({ ...base, op: 'enable', accountId: actual.id, reason: 'enabled in the source' });
  if (!desired.enabled && actual.enabled) actions.push({ ...base, op: 'disable', accountId: actual.id, reason: 'disabled in the source' });
  const have = new Set(actual.groups);
  for (const group of desired.groups) if (!have.has(group)) actions.push({ ...base, op: 'addMember', group, reason: 'mapped from a source group' });
  const want = new Set(desired.groups);
  for (const group of managedMemberships(actual, input.managedGroups)) {
    if (!want.has(group)) actions.push({ ...base, op: 'removeMember', group, reason: 'not mapped from any of the source groups (revoked or drift)' });
  }
  return { actions: sortActions(actions), findings };
}

function managedMemberships(actual: ActualAccount, managed: readonly string[]): string[] {
  const m = new Set(managed);
  return actual.groups.filter((g) => m.has(g)).sort();
}

/** Only the mapped attributes are compared; create-only ones are never overwritten once set. */
function attributeChanges(desired: DesiredAccount, actual: ActualAccount): AttributeChange[] {
  const createOnly = new Set(desired.createOnlyAttributes);
  const changes: AttributeChange[] = [];
  const keys = new Set([...Object.keys(desired.attributes), ...desired.createOnlyAttributes, ...desired.managedAttributes]);
  for (const attribute of [...keys].sort()) {
    const to = desired.attributes[attribute] ?? null;
    const from = actual.attributes[attribute] ?? null;
    if (to === from) continue;
    if (createOnly.has(attribute) && from !== null) continue;
    changes.push({ attribute, from, to });
  }
  return changes;
}

function sortActions(actions: Action[]): Action[] {
  return actions
    .map((a, i) => ({ a, i }))
    .sort((x, y) => ACTION_ORDER.indexOf(x.a.op) - ACTION_ORDER.indexOf(y.a.op) || x.i - y.i)
    .map(({ a }) => a);
}

function fmt(v: string | null): string {
  return v === null ? '(unset)' : JSON.stringify(v);
}

/** Counts per action for summaries and the deletion guard. */
export function countActions(actions: readonly Action[]): Record<ActionOp, number> {
  const counts = Object.fromEntries(ACTION_ORDER.map((op) => [op, 0])) as Record<ActionOp, number>;
  for (const a of actions) counts[a.op] += 1;
  return counts;
}

/** What takes access away: what the mass-revocation guard counts and can hold. */
export function revokesAccess(action: Action): boolean {
  return action.op === 'disable' || action.op === 'delete' || action.op === 'removeMember';
}
