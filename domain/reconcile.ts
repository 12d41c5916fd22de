import { type CompiledTarget, desiredAccount } from './mapping';
import { isMarkedFor, matchAccount } from './match';
import { type Action, type ActionOp, countActions, type Finding, planAccount } from './plan';
import type { ActualAccount, SourceIdentity } from './types';

/**
 * The whole-directory plan for one target: every source identity matched to its account, and every
 * owned account that no identity claims. Pure: the dry run and the real run both come from here.
 */

export interface TargetSnapshot {
  /** idflow-owned accounts, each with its groups. */
  accounts: ActualAccount[];
  /** Names of the managed groups that exist in the target. */
  groups: string[];
}

export interface IdentityPlan {
  employeeId: string;
  userName: string;
  actions: Action[];
  findings: Finding[];
}

export interface TargetPlan {
  target: string;
  /** Groups to create first: they serve many identities, so they belong to none. */
  groups: Action[];
  identities: IdentityPlan[];
  counts: Record<ActionOp, number>;
  findings: number;
}

export interface PlanTargetInput {
  target: CompiledTarget;
  identities: readonly SourceIdentity[];
  state: TargetSnapshot;
  maxGroupsPerUser?: number;
}

export function planTarget({ target, identities, state, maxGroupsPerUser }: PlanTargetInput): TargetPlan {
  const byExternalId = new Map<string, ActualAccount>();
  const byName = new Map<string, ActualAccount>();
  for (const a of state.accounts) {
    if (a.externalId) byExternalId.set(a.externalId, a);
    byName.set(a.userName.toLowerCase(), a);
  }
  const claimed = new Set<string>();
  const existingGroups = new Set(state.groups);
  const common = {
    target: target.name,
    onAbsent: target.config.onLeaveScope,
    managedGroups: target.managedGroups,
    existingGroups,
    createMissingGroups: target.config.groups.createMissing,
    maxGroupsPerUser,
    adoptUnmatched: target.config.unmatched === 'adopt',
  };
  const plans: IdentityPlan[] = [];
  const groups: Action[] = [];

  for (const identity of [...identities].sort((a, b) => a.employeeId.localeCompare(b.employeeId) || a.id.localeCompare(b.id))) {
    const result = desiredAccount(identity, target);
    const desired = result.kind === 'account' ? result.account : null;
    const byMarker = byExternalId.get(identity.id) ?? null;
    const { actual, nameHolder } = matchAccount(identity.id, { byMarker, byName: desired ? (byName.get(desired.userName.toLowerCase()) ?? null) : null }, target.config.matching);
    // Only the person's own account is claimed: one merely holding their name stays someone else's.
    if (isMarkedFor(actual, identity.id)) claimed.add(actual!.id);
    const userName = desired?.userName ?? actual?.userName ?? identity.employeeId;
    if (result.kind === 'invalid') {
      plans.push({ employeeId: identity.employeeId, userName, actions: [], findings: result.problems.map((detail) => ({ kind: 'invalid', target: target.name, employeeId: identity.employeeId, userName, detail })) });
      continue;
    }
    if (!desired && !actual) continue;
    const plan = planAccount({
      ...common,
      employeeId: identity.employeeId,
      externalId: identity.id,
      desired,
      absentReason: result.kind === 'outOfScope' ? `out of scope: ${result.scope.reason}` : undefined,
      actual,
      nameHolder,
    });
    for (const a of plan.actions) {
      if (a.op !== 'createGroup') continue;
      existingGroups.add(a.group);
      groups.push({ ...a, employeeId: '', userName: '', reason: `${a.reason}; first needed by ${identity.employeeId}` });
    }
    const actions = plan.actions.filter((a) => a.op !== 'createGroup');
    if (actions.length > 0 || plan.findings.length > 0) plans.push({ employeeId: identity.employeeId, userName: actions[0]?.userName ?? userName, actions, findings: plan.findings });
  }

  // Owned accounts no source identity claims: the person is gone from Entra ID.
  for (const actual of [...state.accounts].sort((a, b) => a.userName.localeCompare(b.userName))) {
    if (claimed.has(actual.id)) continue;
    const employeeId = actual.employeeId ?? actual.userName;
    const plan = planAccount({ ...common, employeeId, externalId: actual.externalId, desired: null, absentReason: 'no longer in Entra ID', actual });
    if (plan.actions.length > 0 || plan.findings.length > 0) plans.push({ employeeId, userName: actual.userName, ...plan });
  }

  const all = [...groups, ...plans.flatMap((p) => p.actions)];
  return { target: target.name, groups, identities: plans, counts: countActions(all), findings: plans.reduce((n, p) => n + p.findings.length, 0) };
}

export interface GuardDecision {
  /** Disables and deletes held for a human decision. */
  held: number;
  triggered: boolean;
  reason: string;
  /** sha256 of the held actions: an approval names it, and applies only that set. */
  digest?: string;
}

/**
 * The mass-deletion guard: when one run would disable or delete more than the threshold (a count, or a
 * share of the owned accounts), those actions wait for approval; everything else goes ahead.
 */
export function deletionGuard(plan: TargetPlan, guard: { maxCount?: number; maxPercent?: number }, ownedAccounts: number, approved = 0): GuardDecision {
  const destructive = plan.counts.disable + plan.counts.delete;
  const overCount = guard.maxCount !== undefined && destructive > guard.maxCount;
  const overPercent = guard.maxPercent !== undefined && ownedAccounts > 0 && (destructive / ownedAccounts) * 100 > guard.maxPercent;
  if (destructive === 0 || destructive <= approved || (!overCount && !overPercent)) {
    return { held: 0, triggered: false, reason: destructive <= approved && destructive > 0 ? `${destructive} disables/deletes within the ${approved} approved` : 'below the threshold' };
  }
  const limits = [guard.maxCount !== undefined ? `${guard.maxCount} accounts` : null, guard.maxPercent !== undefined ? `${guard.maxPercent}% of ${ownedAccounts} owned accounts` : null].filter(Boolean).join(' or ');
  return { held: destructive, triggered: true, reason: `${destructive} disables/deletes exceed the threshold of ${limits}` };
}

export function isDestructive(action: Action): boolean {
  return action.op === 'disable' || action.op === 'delete';
}
