import { employeeIdKey } from '../domain/employee-id';
import { ApplicationFailure } from '@temporalio/common';
import pLimit from 'p-limit';
import { type Action, type ActionOp, countActions } from '../domain/plan';
import type { IdentityPlan } from '../domain/reconcile';
import type { ActualAccount } from '../domain/types';
import { applyAction } from './identity';
import type { KnownState, TargetConnector } from '../targets/connector';

/**
 * Applies a whole-directory plan in phases, so memberships go in batches per group (one SCIM PATCH
 * per batch instead of one per member) while each identity's actions keep their order: accounts
 * (rename, create, update, enable) first, then group additions, then removals, then disables and deletes.
 * An identity whose step fails is recorded and left out of its later phases; the run goes on.
 * Each failure says whether a later attempt can succeed (throttling, 5xx, a lost answer), so the
 * caller can try those identities again instead of leaving them for the next scheduled run.
 */
export interface ApplyProgress {
  phase: string;
  done: number;
  of: number;
}

export interface ApplyFailure {
  employeeId: string;
  error: string;
  retryable: boolean;
}

export interface ApplyResult {
  applied: Record<ActionOp, number>;
  failures: ApplyFailure[];
  /** Identities whose own workflow started after the plan was made: left to it, not written from this plan. */
  handedOff: string[];
  /** What was written for whom, in the order it happened: the per-person record of the run. */
  written: Map<string, ActionOp[]>;
}

const ACCOUNT_OPS: ReadonlySet<ActionOp> = new Set(['rename', 'create', 'update', 'enable']);
const BATCH = 100;

export interface ApplyOptions {
  concurrency: number;
  skip: (a: Action) => boolean;
  progress: (p: ApplyProgress) => void;
  /**
   * The target as read for this plan. Creates skip their look-ups (the read found no such account)
   * and membership writes skip re-reading members and groups it holds or that this run created.
   */
  read?: KnownState;
  /** Aborted when the run is cancelled or terminated: no new identity or batch starts after that. */
  signal?: AbortSignal;
  /**
   * The plan rests on a read that may be minutes old, and each person has one writer: their own
   * workflow once it runs (a leaver, say). Asked right before an identity's account writes and its
   * disables (`one`), and before each membership phase (`all`, the identities now in flight).
   */
  handedOff?: { one: (employeeId: string) => Promise<boolean>; all: () => Promise<ReadonlySet<string>> };
}

export async function applyIdentityPlans(connector: TargetConnector, plans: readonly IdentityPlan[], opts: ApplyOptions): Promise<ApplyResult> {
  const applied = countActions([]);
  const written = new Map<string, ActionOp[]>();
  const wrote = (employeeId: string, op: ActionOp) => {
    applied[op] += 1;
    written.set(employeeId, [...(written.get(employeeId) ?? []), op]);
  };
  const failures = new Map<string, ApplyFailure>();
  const fail = (employeeId: string, err: unknown) => {
    if (!failures.has(employeeId)) failures.set(employeeId, { employeeId, error: err instanceof Error ? err.message : String(err), retryable: isRetryable(err) });
  };
  const limit = pLimit(opts.concurrency);
  const handedOff = new Set<string>();
  const live = (p: IdentityPlan) => !failures.has(p.employeeId) && !handedOff.has(employeeIdKey(p.employeeId));
  const actionsOf = (p: IdentityPlan, ops: (op: ActionOp) => boolean) => p.actions.filter((a) => ops(a.op) && !opts.skip(a));
  // The accounts this run creates join what the read found, for the membership writes after them.
  const knownAccounts = new Map(opts.read?.accounts);
  const known: KnownState | undefined = opts.read && { accounts: knownAccounts, groups: opts.read.groups };
  const applyOne = async (a: Action) => {
    const result = await applyAction(connector, a, known ? { absentInRead: true, created: (account: ActualAccount) => knownAccounts.set(account.userName, account) } : {});
    // The renamed account is still the one the read found, under its new name.
    const before = a.op === 'rename' ? knownAccounts.get(a.from) : undefined;
    if (a.op === 'rename' && before) {
      knownAccounts.delete(a.from);
      knownAccounts.set(a.userName, { ...before, userName: a.userName });
    }
    return result;
  };

  /** Each identity's actions of these kinds in order, many identities at once; the first failure stops that identity. */
  const perIdentity = async (phase: string, ops: (op: ActionOp) => boolean) => {
    let done = 0;
    const todo = plans.filter((p) => live(p) && actionsOf(p, ops).length > 0);
    await Promise.all(todo.map((p) => limit(async () => {
      if (opts.signal?.aborted) return;
      try {
        if (opts.handedOff && (await opts.handedOff.one(p.employeeId))) {
          handedOff.add(employeeIdKey(p.employeeId));
          return;
        }
        for (const a of actionsOf(p, ops)) {
          await applyOne(a);
          wrote(p.employeeId, a.op);
        }
      } catch (err) {
        fail(p.employeeId, err);
      }
      opts.progress({ phase, done: ++done, of: todo.length });
    })));
    // Cancelled: what had started has finished (so nothing is left half-written); nothing else starts.
    opts.signal?.throwIfAborted();
  };

  await perIdentity('accounts', (op) => ACCOUNT_OPS.has(op));

  // Memberships, batched per group; a failed batch is retried member by member to find who failed.
  for (const op of ['addMember', 'removeMember'] as const) {
    if (opts.handedOff) for (const id of await opts.handedOff.all()) handedOff.add(id);
    const byGroup = new Map<string, { employeeId: string; userName: string; action: Action }[]>();
    for (const p of plans.filter(live)) {
      for (const a of actionsOf(p, (o) => o === op)) {
        if (a.op !== op) continue;
        byGroup.set(a.group, [...(byGroup.get(a.group) ?? []), { employeeId: p.employeeId, userName: a.userName, action: a }]);
      }
    }
    const batches = [...byGroup.entries()].flatMap(([group, members]) => chunk(members, BATCH).map((batch) => ({ group, batch })));
    let done = 0;
    await Promise.all(batches.map(({ group, batch }) => limit(async () => {
      if (opts.signal?.aborted) return;
      try {
        if (op === 'addMember') await connector.addMembers(group, batch.map((m) => m.userName), known);
        else await connector.removeMembers(group, batch.map((m) => m.userName), known);
        for (const m of batch) wrote(m.employeeId, op);
      } catch {
        for (const m of batch) {
          try {
            await applyAction(connector, m.action);
            wrote(m.employeeId, op);
          } catch (err) {
            fail(m.employeeId, err);
          }
        }
      }
      opts.progress({ phase: op === 'addMember' ? 'adding members' : 'removing members', done: ++done, of: batches.length });
    })));
    opts.signal?.throwIfAborted();
  }

  // Disables and deletes last: access goes only after everything else for the run is in place.
  await perIdentity('disabling', (op) => op === 'disable' || op === 'delete');

  return { applied, failures: [...failures.values()], handedOff: [...handedOff].sort(), written };
}

/** The connectors mark what a retry cannot fix as non-retryable; anything else is worth another try, as Temporal itself assumes. */
function isRetryable(err: unknown): boolean {
  return !(err instanceof ApplicationFailure && err.nonRetryable);
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
