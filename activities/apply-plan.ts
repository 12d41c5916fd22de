import pLimit from 'p-limit';
import type { Action, ActionOp } from '../domain/plan';
import type { IdentityPlan } from '../domain/reconcile';
import { applyAction } from './identity';
import type { TargetConnector } from './targets/connector';

/**
 * Applies a whole-directory plan in phases, so memberships go in batches per group (one SCIM PATCH
 * per batch instead of one per member) while each identity's actions keep their order: accounts
 * (create, update, enable) first, then group additions, then removals, then disables and deletes.
 * An identity whose step fails is recorded and left out of its later phases; the run goes on.
 */
export interface ApplyProgress {
  phase: string;
  done: number;
  of: number;
}

export interface ApplyResult {
  applied: Record<ActionOp, number>;
  failures: { employeeId: string; error: string }[];
}

const ACCOUNT_OPS: ReadonlySet<ActionOp> = new Set(['create', 'update', 'enable']);
const BATCH = 100;

export async function applyIdentityPlans(connector: TargetConnector, plans: readonly IdentityPlan[], opts: { concurrency: number; skip: (a: Action) => boolean; progress: (p: ApplyProgress) => void }): Promise<ApplyResult> {
  const applied = Object.fromEntries(['createGroup', 'create', 'update', 'enable', 'addMember', 'removeMember', 'disable', 'delete'].map((op) => [op, 0])) as Record<ActionOp, number>;
  const failures = new Map<string, string>();
  const fail = (employeeId: string, err: unknown) => {
    if (!failures.has(employeeId)) failures.set(employeeId, err instanceof Error ? err.message : String(err));
  };
  const limit = pLimit(opts.concurrency);
  const live = (p: IdentityPlan) => !failures.has(p.employeeId);
  const actionsOf = (p: IdentityPlan, ops: (op: ActionOp) => boolean) => p.actions.filter((a) => ops(a.op) && !opts.skip(a));

  // Accounts, one identity at a time each, many identities at once.
  let done = 0;
  const withAccounts = plans.filter((p) => actionsOf(p, (op) => ACCOUNT_OPS.has(op)).length > 0);
  await Promise.all(withAccounts.map((p) => limit(async () => {
    try {
      for (const a of actionsOf(p, (op) => ACCOUNT_OPS.has(op))) {
        await applyAction(connector, a);
        applied[a.op] += 1;
      }
    } catch (err) {
      fail(p.employeeId, err);
    }
    opts.progress({ phase: 'accounts', done: ++done, of: withAccounts.length });
  })));

  // Memberships, batched per group; a failed batch is retried member by member to find who failed.
  for (const op of ['addMember', 'removeMember'] as const) {
    const byGroup = new Map<string, { employeeId: string; userName: string; action: Action }[]>();
    for (const p of plans.filter(live)) {
      for (const a of actionsOf(p, (o) => o === op)) {
        if (a.op !== op) continue;
        byGroup.set(a.group, [...(byGroup.get(a.group) ?? []), { employeeId: p.employeeId, userName: a.userName, action: a }]);
      }
    }
    const batches = [...byGroup.entries()].flatMap(([group, members]) => chunk(members, BATCH).map((batch) => ({ group, batch })));
    done = 0;
    await Promise.all(batches.map(({ group, batch }) => limit(async () => {
      try {
        if (op === 'addMember') await connector.addMembers(group, batch.map((m) => m.userName));
        else await connector.removeMembers(group, batch.map((m) => m.userName));
        applied[op] += batch.length;
      } catch {
        for (const m of batch) {
          try {
            await applyAction(connector, m.action);
            applied[op] += 1;
          } catch (err) {
            fail(m.employeeId, err);
          }
        }
      }
      opts.progress({ phase: op === 'addMember' ? 'adding members' : 'removing members', done: ++done, of: batches.length });
    })));
  }

  // Disables and deletes last: access goes only after everything else for the run is in place.
  done = 0;
  const destructive = plans.filter((p) => live(p) && actionsOf(p, (op) => op === 'disable' || op === 'delete').length > 0);
  await Promise.all(destructive.map((p) => limit(async () => {
    try {
      for (const a of actionsOf(p, (op) => op === 'disable' || op === 'delete')) {
        await applyAction(connector, a);
        applied[a.op] += 1;
      }
    } catch (err) {
      fail(p.employeeId, err);
    }
    opts.progress({ phase: 'disabling', done: ++done, of: destructive.length });
  })));

  return { applied, failures: [...failures.entries()].map(([employeeId, error]) => ({ employeeId, error })) };
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
