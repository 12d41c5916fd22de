import { ApplicationFailure } from '@temporalio/common';
import { type Action, planAccount } from '../domain/plan';
import type { ActualAccount } from '../domain/types';
import { type AppliedAction, applyAction } from './identity';
import { connectorFor, type Runtime } from './runtime';
import type { TargetConnector } from '../targets/connector';

/**
 * A leaver's (or a purge's) writes: revoke-only, and independent of the source. The person's
 * accounts are found by idflow's own markers (every source id known for them, and the employee id
 * idflow recorded at create), so Entra ID need not answer, nor still hold the person.
 */

export interface RevokeInput {
  target: string;
  employeeId: string;
  /** Every source id known for the person: each marks one of their accounts. */
  sourceIds: string[];
  policy: 'disable' | 'delete';
  reason: string;
}

export interface RevokedAccount {
  userName: string;
  externalId: string;
  /** What the plan said to do, each with its reason: the audit's evidence. */
  planned: Action[];
  applied: AppliedAction[];
}

export interface RevokeResult {
  target: string;
  accounts: RevokedAccount[];
  /** idflow's accounts found by the employee id that carry no source id marker: never touched, reported. */
  findings: string[];
  /** What still grants access on the revoked accounts (reported by the connector's disable). */
  residual: string[];
}

export interface SourceIdsResult {
  sourceIds: string[];
  /** The employee ids as Entra ID spells them (Graph matched without regard to case). */
  employeeIds?: string[];
  /** Set when the source could not answer: the revoke goes on from the markers alone. */
  sourceError?: string;
}

export function revokeActivities(runtime: Runtime) {
  return {
    /**
     * The source ids Entra ID holds for an employee id: all of them, so two users sharing it are both
     * revoked. A source that cannot answer is reported, not thrown: a leaver never waits for it.
     */
    async leaverSourceIds(employeeId: string): Promise<SourceIdsResult> {
      try {
        const users = await runtime.source.sourceIdsByEmployeeId(employeeId);
        return { sourceIds: users.map((u) => u.id), employeeIds: [...new Set(users.map((u) => u.employeeId))] };
      } catch (err) {
        return { sourceIds: [], sourceError: (err as Error).message };
      }
    },

    /**
     * Disables (or deletes) every account of the person on one target and reads each back. Idempotent:
     * a retry finds what is already revoked and does nothing more. Throws (retryable) while any is not.
     */
    async revokeAccounts(input: RevokeInput): Promise<RevokeResult> {
      const c = connectorFor(runtime, input.target);
      const target = runtime.loaded.targets.find((t) => t.name === input.target)!;
      const accounts = await accountsOf(c, input.employeeId, input.sourceIds);
      const result: RevokeResult = { target: input.target, accounts: [], findings: [], residual: [] };
      for (const found of accounts.others) result.findings.push(`account "${found.userName}" carries employee id ${input.employeeId} but carries no source id marker; left untouched`);
      for (const actual of accounts.mine) {
        const plan = planAccount({
          target: input.target,
          employeeId: input.employeeId,
          externalId: actual.externalId,
          desired: null,
          absentReason: input.reason,
          onAbsent: input.policy,
          actual,
          managedGroups: target.managedGroups,
          existingGroups: new Set(),
          createMissingGroups: false,
        });
        const applied: AppliedAction[] = [];
        for (const action of plan.actions) applied.push(await applyAction(c, action));
        for (const a of applied) result.residual.push(...residualOf(a));
        result.accounts.push({ userName: actual.userName, externalId: actual.externalId!, planned: plan.actions, applied });
      }
      // Read back by marker what was revoked; the employee-id look-up (a full read on IAM) is not repeated.
      const after = await Promise.all(accounts.mine.map((a) => c.findAccountByExternalId(a.externalId!)));
      const notRevoked = after.filter((a): a is ActualAccount => a !== null && (input.policy === 'delete' || a.enabled));
      if (notRevoked.length > 0) {
        throw ApplicationFailure.retryable(`${notRevoked.map((a) => a.userName).join(', ')} still ${input.policy === 'delete' ? 'exist' : 'enabled'} in ${input.target} after the revoke`, 'Target.notRevoked');
      }
      return result;
    },
  };
}

/** The person's accounts on one target: marked with one of their source ids, or carrying their employee id. */
async function accountsOf(c: TargetConnector, employeeId: string, sourceIds: readonly string[]): Promise<{ mine: ActualAccount[]; others: ActualAccount[] }> {
  const byId = new Map<string, ActualAccount>();
  for (const sourceId of new Set(sourceIds)) {
    const a = await c.findAccountByExternalId(sourceId);
    if (a) byId.set(a.id, a);
  }
  const others: ActualAccount[] = [];
  for (const a of await c.findAccountsByEmployeeId(employeeId)) {
    // idflow wrote the employee id with the marker: an owned, marked account carrying it is the person's.
    // Another system's account with the same employee number is none of idflow's business.
    if (a.owned && a.externalId) byId.set(a.id, a);
    else if (a.owned) others.push(a);
  }
  return { mine: [...byId.values()].sort((x, y) => x.userName.localeCompare(y.userName)), others };
}

function residualOf(applied: AppliedAction): string[] {
  const notes = (applied.detail as { residual?: string[] } | undefined)?.residual;
  return notes ? notes.map((n) => `${applied.userName}: ${n}`) : [];
}
