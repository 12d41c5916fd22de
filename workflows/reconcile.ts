import { ApplicationFailure, condition, defineQuery, defineUpdate, log, patched, proxyActivities, setHandler, sleep, upsertMemo, upsertSearchAttributes } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { IdflowActivities } from '../activities';
import type { ReconcileTargetInput, ReconcileTargetResult } from '../activities/reconcile';
import type { ActionOp } from '../domain/plan';
import { IdflowAwaitingApproval, IdflowOutcome, IdflowTargets } from './search-attributes';

/**
 * Full sync: every target read, planned and repaired, with the mass-deletion guard in front of
 * disables and deletes. Progress is visible through a query and the memo.
 */

export interface ReconcileInput {
  dryRun?: boolean;
  /** Default: every target the worker's config enables. */
  targets?: string[];
  /** How long held deletions wait for `idflow approve`; then they are rejected. */
  approvalTimeout?: Duration;
  /** Who started the run (the CLI's principal); a schedule's runs have none. Four eyes keep them from approving it. */
  requestedBy?: string;
}

export interface ApprovalDecision {
  approved: boolean;
  by: string;
  note?: string;
}

export interface ReconcileProgress {
  phase: 'planning' | 'applying' | 'awaiting approval' | 'applying approved' | 'done';
  dryRun: boolean;
  results: ReconcileTargetResult[];
  held: { target: string; count: number; reason: string; digest?: string }[];
  decision: ApprovalDecision | null;
}

export interface ReconcileResult extends ReconcileProgress {
  summary: string;
}

export const progressQuery = defineQuery<ReconcileProgress>('progress');
/** `digests`: per target, the digest of the held actions the approver saw; a decision on a stale view is refused. */
export interface DecisionArgs {
  by: string;
  note?: string;
  digests?: Record<string, string>;
}
export const approveUpdate = defineUpdate<ApprovalDecision, [DecisionArgs]>('approve');
export const rejectUpdate = defineUpdate<ApprovalDecision, [DecisionArgs]>('reject');

const { reconcileTarget, enabledTargets, identitiesInFlight, approvalPolicy } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '5s', maximumInterval: '2 minutes', maximumAttempts: 5 },
});

/**
 * Identities that failed on something transient (throttling past the connector's own retries, a
 * 5xx, a lost answer) get more rounds: each plans afresh, so it does only what is still missing.
 */
const RETRY_ROUNDS = 3;
const FIRST_RETRY_DELAY_MS = 5_000;

export async function reconcileWorkflow(input: ReconcileInput = {}): Promise<ReconcileResult> {
  const dryRun = input.dryRun ?? false;
  const progress: ReconcileProgress = { phase: 'planning', dryRun, results: [], held: [], decision: null };
  const decide = (approved: boolean) => async (args: DecisionArgs): Promise<ApprovalDecision> => {
    // The rule is the worker's config, not the requester's input.
    if (approved && input.requestedBy !== undefined && patched('approval-four-eyes') && (await approvalPolicy()).fourEyes && args.by === input.requestedBy) {
      throw ApplicationFailure.nonRetryable(`four eyes: ${args.by} started this run and cannot approve it; someone else must (approvals.fourEyes)`, 'Approval.fourEyes');
    }
    if (progress.decision) throw ApplicationFailure.nonRetryable(`already ${progress.decision.approved ? 'approved' : 'rejected'} by ${progress.decision.by}`, 'Approval.decided');
    const decision: ApprovalDecision = { approved, by: args.by, ...(args.note ? { note: args.note } : {}) };
    progress.decision = decision;
    return decision;
  };
  const onlyWhileWaiting = (args: DecisionArgs) => {
    if (progress.phase !== 'awaiting approval' || progress.decision) throw new Error(`this run is not waiting for approval (phase: ${progress.phase})`);
    for (const h of progress.held) {
      if (h.digest && args.digests?.[h.target] !== h.digest) throw new Error(`the decision must name the held actions it is about: ${h.target} holds ${h.count} with digest ${h.digest} (idflow approve reads and sends them)`);
    }
  };
  setHandler(progressQuery, () => progress);
  setHandler(approveUpdate, decide(true), { validator: onlyWhileWaiting });
  setHandler(rejectUpdate, decide(false), { validator: onlyWhileWaiting });

  const targets = input.targets ?? (await enabledTargets());
  upsertSearchAttributes([{ key: IdflowTargets, value: targets }]);
  // An identity whose own workflow is running owns its writes: a snapshot never undoes a newer event.
  const skipEmployeeIds = dryRun ? [] : await identitiesInFlight();
  progress.phase = dryRun ? 'planning' : 'applying';
  memo(progress);
  progress.results = await Promise.all(targets.map((target) => reconcileUntilSettled({ target, dryRun, skipEmployeeIds })));
  progress.held = progress.results.filter((r) => r.guard.triggered).map((r) => ({ target: r.target, count: r.guard.held, reason: r.guard.reason, ...(r.guard.digest ? { digest: r.guard.digest } : {}) }));

  if (!dryRun && progress.held.length > 0) {
    progress.phase = 'awaiting approval';
    upsertSearchAttributes([{ key: IdflowAwaitingApproval, value: true }]);
    memo(progress);
    const decided = await condition(() => progress.decision !== null, input.approvalTimeout ?? '24 hours');
    if (!decided) progress.decision = { approved: false, by: 'timeout', note: `no decision within ${String(input.approvalTimeout ?? '24 hours')}` };
    upsertSearchAttributes([{ key: IdflowAwaitingApproval, value: false }]);
    if (progress.decision!.approved) {
      progress.phase = 'applying approved';
      memo(progress);
      const approved = await Promise.all(progress.held.map((h) => reconcileUntilSettled({ target: h.target, dryRun: false, approvedDestructive: h.count, ...(h.digest ? { approvedDigest: h.digest } : {}), skipEmployeeIds })));
      progress.results = progress.results.map((r) => approved.find((a) => a.target === r.target) ?? r);
    }
  }

  progress.phase = 'done';
  const failed = progress.results.some((r) => r.failures.count > 0);
  // Still held: rejected, timed out, or the plan changed since it was approved (a new approval is needed).
  const held = progress.results.some((r) => r.guard.triggered);
  upsertSearchAttributes([{ key: IdflowOutcome, value: dryRun ? 'planned' : failed ? 'failed' : held ? 'held' : 'reconciled' }]);
  memo(progress);
  return { ...progress, summary: summarize(progress) };
}

async function reconcileUntilSettled(input: ReconcileTargetInput): Promise<ReconcileTargetResult> {
  let result = await reconcileTarget(input);
  // Gated, and `retryable` is absent from older results: histories from before take no extra rounds.
  for (let round = 1; !input.dryRun && (result.failures.retryable ?? 0) > 0 && round <= RETRY_ROUNDS && patched('reconcile-retry-rounds'); round++) {
    await sleep(FIRST_RETRY_DELAY_MS * 2 ** (round - 1));
    // People whose own workflow started meanwhile are theirs to handle now.
    const skipEmployeeIds = await identitiesInFlight();
    try {
      result = followedBy(result, await reconcileTarget({ ...input, skipEmployeeIds }));
    } catch (err) {
      // What the earlier rounds did and found stands; the failures they left are in it.
      log.warn('a retry round of the reconcile failed; keeping the earlier rounds\' result', { target: input.target, error: (err as Error).message });
      break;
    }
  }
  return result;
}

/** One target's outcome over several rounds: what the first found, what all applied, what the last left. */
function followedBy(first: ReconcileTargetResult, next: ReconcileTargetResult): ReconcileTargetResult {
  const applied = { ...first.applied };
  for (const [op, n] of Object.entries(next.applied) as [keyof typeof applied, number][]) applied[op] = (applied[op] ?? 0) + n;
  // Only the returned value changes (no command does), so recorded histories replay as they were without a patch.
  const written = first.written || next.written ? mergeWritten(first.written, next.written) : undefined;
  return { ...first, applied, ...(written ? { written } : {}), rounds: (first.rounds ?? 1) + 1, guard: next.guard, failures: next.failures, skipped: next.skipped, verify: next.verify, durationMs: first.durationMs + next.durationMs };
}

/** The people every round wrote, each op once; a person written in two rounds is one entry. */
function mergeWritten(a: ReconcileTargetResult['written'], b: ReconcileTargetResult['written']): NonNullable<ReconcileTargetResult['written']> {
  const people = new Map<string, Set<ActionOp>>();
  for (const p of [...(a?.people ?? []), ...(b?.people ?? [])]) people.set(p.employeeId, new Set([...(people.get(p.employeeId) ?? []), ...p.ops]));
  return { people: [...people].map(([employeeId, ops]) => ({ employeeId, ops: [...ops] })), omitted: (a?.omitted ?? 0) + (b?.omitted ?? 0) };
}

function memo(progress: ReconcileProgress): void {
  upsertMemo({ summary: summarize(progress), phase: progress.phase });
}

export function summarize(p: ReconcileProgress): string {
  const parts = p.results.map((r) => {
    const planned = Object.entries(r.planned).filter(([, n]) => n > 0).map(([op, n]) => `${op} ${n}`).join(', ') || 'no changes';
    return `${r.target}: ${planned}${r.failures.count ? `, ${r.failures.count} failed` : ''}${r.guard.triggered ? `, ${r.guard.held} held` : ''}`;
  });
  return `${p.dryRun ? 'dry run' : 'reconcile'} (${p.phase}) ${parts.join('; ') || 'starting'}`;
}
