import type { TargetPlan } from '../../../domain/reconcile';
import type { TargetSnapshot } from './private-stack';
import { type LedgerEntry, repeatedWrites } from './proxy';

/**
 * "The final target state equals the plan": what a cold plan said each target would hold, compared
 * with what the targets hold after a disturbed run, account by account and membership by membership.
 */

export interface ExpectedAccounts {
  /** userName -> employee id and sorted group names. */
  aws: Record<string, { employeeId: string; groups: string[] }>;
  app: Record<string, { employeeId: string; groups: string[] }>;
}

/** The accounts a cold plan creates (all of them, or only those of the given employees). */
export function expectedFromColdPlan(plans: readonly TargetPlan[], employeeIds?: readonly string[]): ExpectedAccounts {
  const only = employeeIds ? new Set(employeeIds) : null;
  const out: ExpectedAccounts = { aws: {}, app: {} };
  for (const plan of plans) {
    if (plan.target !== 'aws' && plan.target !== 'app') throw new Error(`unexpected target ${plan.target} in the plan`);
    const accounts = out[plan.target];
    for (const identity of plan.identities) {
      if (only && !only.has(identity.employeeId)) continue;
      for (const a of identity.actions) {
        if (a.op === 'create') accounts[a.userName] = { employeeId: identity.employeeId, groups: accounts[a.userName]?.groups ?? [] };
      }
      for (const a of identity.actions) {
        if (a.op !== 'addMember') continue;
        const account = accounts[a.userName];
        if (!account) throw new Error(`plan adds ${a.userName} to ${a.group} without creating it; not a cold plan`);
        account.groups = [...account.groups, a.group].sort();
      }
    }
  }
  return out;
}

/** What the targets hold, in the same shape, plus every duplicate found on the way. */
export function actualAccounts(snapshot: TargetSnapshot): { accounts: ExpectedAccounts; duplicates: string[] } {
  const duplicates: string[] = [];
  const aws: ExpectedAccounts['aws'] = {};
  const employeeIds = new Map<string, string>();
  for (const u of snapshot.iam.users) {
    aws[u.userName] = { employeeId: u.employeeId ?? '(none)', groups: u.groups };
    if (u.employeeId && employeeIds.has(u.employeeId)) duplicates.push(`IAM: employee ${u.employeeId} has two users, ${employeeIds.get(u.employeeId)} and ${u.userName}`);
    if (u.employeeId) employeeIds.set(u.employeeId, u.userName);
  }
  const app: ExpectedAccounts['app'] = {};
  const groupsOf = new Map<string, string[]>();
  const groupNames = new Set<string>();
  for (const g of snapshot.scim.groups) {
    if (groupNames.has(g.displayName)) duplicates.push(`SCIM: two groups named ${g.displayName}`);
    groupNames.add(g.displayName);
    const seen = new Set<string>();
    for (const m of g.members) {
      if (seen.has(m)) duplicates.push(`SCIM: ${m} listed twice in group ${g.displayName}`);
      seen.add(m);
      groupsOf.set(m, [...(groupsOf.get(m) ?? []), g.displayName]);
    }
  }
  const externalIds = new Map<string, string>();
  const names = new Set<string>();
  for (const u of snapshot.scim.users) {
    if (names.has(u.userName.toLowerCase())) duplicates.push(`SCIM: two users named ${u.userName}`);
    names.add(u.userName.toLowerCase());
    if (u.externalId && externalIds.has(u.externalId)) duplicates.push(`SCIM: identity ${u.externalId} has two users, ${externalIds.get(u.externalId)} and ${u.userName}`);
    if (u.externalId) externalIds.set(u.externalId, u.userName);
    app[u.userName] = { employeeId: '', groups: [...new Set(groupsOf.get(u.id) ?? [])].sort() };
  }
  return { accounts: { aws, app }, duplicates };
}

/** SCIM users carry no employee id we can read back cheaply; compare names and groups there. */
export function comparable(accounts: ExpectedAccounts): ExpectedAccounts {
  return { aws: accounts.aws, app: Object.fromEntries(Object.entries(accounts.app).map(([k, v]) => [k, { employeeId: '', groups: v.groups }])) };
}

/** Actions a plan still holds, optionally only for some employees (findings are not actions). */
export function remainingActions(plans: readonly TargetPlan[], employeeIds?: readonly string[]): string[] {
  const only = employeeIds ? new Set(employeeIds) : null;
  const out: string[] = [];
  for (const p of plans) {
    if (!only) for (const g of p.groups) out.push(`${p.target}: ${g.op} ${'group' in g ? g.group : ''}`);
    for (const i of p.identities) {
      if (only && !only.has(i.employeeId)) continue;
      for (const a of i.actions) out.push(`${p.target}: ${a.op} ${a.userName}${'group' in a ? ` ${a.group}` : ''} (${a.reason})`);
    }
  }
  return out;
}

/** Creates the targets applied, per key (e.g. `CreateUser ada.lovelace`), across all ledgers given. */
export function appliedCreates(ledgers: readonly (readonly LedgerEntry[])[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of ledgers.flat()) {
    if (!e.applied) continue;
    if (!/^(CreateUser|CreateGroup|POST \/Users|POST \/Groups) /.test(e.key)) continue;
    out[e.key] = (out[e.key] ?? 0) + 1;
  }
  return out;
}

/** The creates a cold plan implies, each exactly once. */
export function expectedCreates(expected: ExpectedAccounts): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of Object.keys(expected.aws)) out[`CreateUser ${name}`] = 1;
  for (const g of new Set(Object.values(expected.aws).flatMap((a) => a.groups))) out[`CreateGroup ${g}`] = 1;
  for (const name of Object.keys(expected.app)) out[`POST /Users ${name}`] = 1;
  for (const g of new Set(Object.values(expected.app).flatMap((a) => a.groups))) out[`POST /Groups ${g}`] = 1;
  return out;
}

export { repeatedWrites };
