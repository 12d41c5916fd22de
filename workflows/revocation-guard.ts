import { allHandlersFinished, condition, continueAsNew, getExternalWorkflowHandle, log, setHandler, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time';
import type { Duration } from '@temporalio/common';
import {
  decideRevocationsUpdate,
  type GuardDecisionArgs,
  type GuardState,
  guardStateQuery,
  type RevocationAnswer,
  type RevocationRequest,
  requestRevocationUpdate,
  revocationDecisionSignal,
  withdrawRevocationUpdate,
} from '../contracts/revocation-guard';
import { IdflowAwaitingApproval } from './search-attributes';

export * from '../contracts/revocation-guard';

export interface RevocationGuardInput {
  state?: GuardState;
  /** Held requests not decided within this are rejected. */
  approvalTimeout?: Duration;
}

const DECISIONS_KEPT = 20;

/**
 * The one mass-revocation guard of the identity workflows: a singleton (REVOCATION_GUARD_WORKFLOW_ID)
 * started by the first request. Its history is the record of every hold and every decision.
 */
export async function revocationGuardWorkflow(input: RevocationGuardInput = {}): Promise<GuardState> {
  const state: GuardState = input.state ?? { window: [], held: [], decisions: [] };
  const timeoutMs = msToNumber(input.approvalTimeout ?? '24 hours');
  const toSignal: { workflowId: string; requestId: string; approved: boolean; by: string; note?: string; digest: string }[] = [];

  const prune = () => {
    const now = Date.now();
    state.window = state.window.filter((e) => Date.parse(e.until) > now);
  };
  const showHeld = () => {
    upsertSearchAttributes([{ key: IdflowAwaitingApproval, value: state.held.length > 0 }]);
    upsertMemo({ summary: state.held.length > 0 ? `${state.held.length} revocations held for approval (idflow approve ${workflowInfo().workflowId})` : `${state.window.length} revocations in the window` });
  };

  const grant = (request: RevocationRequest) => {
    const at = Date.now();
    for (const target of request.targets) {
      const windowMs = msToNumber((request.limits[target]?.window ?? '1 hour') as Duration);
      state.window.push({ at: new Date(at).toISOString(), target, employeeId: request.employeeId, requestId: request.requestId, until: new Date(at + windowMs).toISOString() });
    }
  };

  // Handlers last: an update that started this workflow is delivered the moment its handler is set.
  setHandler(guardStateQuery, () => state);
  setHandler(requestRevocationUpdate, (request): RevocationAnswer => {
    prune();
    if (state.window.some((e) => e.requestId === request.requestId)) return { granted: true };
    const alreadyHeld = state.held.find((h) => h.requestId === request.requestId);
    if (alreadyHeld) return { granted: false, reason: alreadyHeld.heldBecause, heldCount: state.held.length };
    const over = request.targets.map((target) => {
      const people = new Set(state.window.filter((e) => e.target === target).map((e) => e.employeeId));
      people.add(request.employeeId);
      const limit = request.limits[target];
      return limit && people.size > limit.maxCount ? `${people.size} people losing access on ${target} within ${limit.window} exceed deletionGuard.maxCount ${limit.maxCount}` : null;
    }).filter((r): r is string => r !== null);
    if (state.held.length > 0 || over.length > 0) {
      // Once holding, everything destructive waits: a bulk mistake is decided on as one set.
      const heldBecause = over.length > 0 ? over.join('; ') : `the guard is holding ${state.held.length} other revocations`;
      state.held.push({ ...request, heldAt: new Date(Date.now()).toISOString(), heldBecause });
      showHeld();
      log.warn('revocation held for approval', { requestId: request.requestId, employeeId: request.employeeId, heldBecause });
      return { granted: false, reason: heldBecause, heldCount: state.held.length };
    }
    grant(request);
    return { granted: true };
  }, {
    validator: (request) => {
      if (!request?.requestId || !request.workflowId || !request.employeeId || !Array.isArray(request.targets) || request.targets.length === 0) throw new Error('a revocation request needs requestId, workflowId, employeeId and at least one target');
    },
  });

  setHandler(withdrawRevocationUpdate, (requestId) => {
    const before = state.held.length;
    state.held = state.held.filter((h) => h.requestId !== requestId);
    if (state.held.length !== before) showHeld();
    return state.held.length !== before;
  });

  const decide = (args: GuardDecisionArgs, approvedBy: string) => {
    const decided = state.held;
    state.held = [];
    // Approved revocations are not counted again: the next leaver is not held because of this batch.
    for (const h of decided) toSignal.push({ workflowId: h.workflowId, requestId: h.requestId, approved: args.approved, by: approvedBy, ...(args.note ? { note: args.note } : {}), digest: args.digest });
    state.decisions.push({ at: new Date(Date.now()).toISOString(), approved: args.approved, by: approvedBy, ...(args.note ? { note: args.note } : {}), digest: args.digest, requestIds: decided.map((h) => h.requestId) });
    if (state.decisions.length > DECISIONS_KEPT) state.decisions.splice(0, state.decisions.length - DECISIONS_KEPT);
    showHeld();
    return { decided: decided.length, approved: args.approved };
  };
  setHandler(decideRevocationsUpdate, (args) => decide(args, args.by), {
    validator: (args) => {
      if (!args?.by) throw new Error('a decision needs the approver (by)');
      if (state.held.length === 0) throw new Error('no revocations are held');
      if (args.approved) {
        const own = state.held.filter((h) => h.fourEyes && h.requestedBy === args.by);
        if (own.length > 0) throw new Error(`four eyes: ${args.by} sent ${own.length} of the held events (${own.slice(0, 3).map((h) => h.eventId).join(', ')}) and cannot approve them; someone else must (approvals.fourEyes)`);
      }
      const held = state.held.map((h) => h.requestId).sort();
      const seen = [...(args.requestIds ?? [])].sort();
      if (held.length !== seen.length || held.some((id, i) => id !== seen[i])) {
        throw new Error(`stale decision: ${held.length} revocations are held now, and the decision was made on ${seen.length} (${held.filter((id) => !seen.includes(id)).length} new); look again`);
      }
    },
  });

  for (;;) {
    const oldest = state.held.length > 0 ? Math.min(...state.held.map((h) => Date.parse(h.heldAt))) : null;
    const wait = oldest !== null ? Math.max(1, oldest + timeoutMs - Date.now()) : '1 hour';
    const woke = await condition(() => toSignal.length > 0 || workflowInfo().continueAsNewSuggested, wait);
    if (!woke && oldest !== null && oldest + timeoutMs <= Date.now()) {
      decide({ approved: false, by: 'timeout', note: `no decision within ${String(input.approvalTimeout ?? '24 hours')}`, digest: '', requestIds: state.held.map((h) => h.requestId) }, 'timeout');
    }
    while (toSignal.length > 0) {
      const s = toSignal.shift()!;
      try {
        await getExternalWorkflowHandle(s.workflowId).signal(revocationDecisionSignal, { requestId: s.requestId, approved: s.approved, by: s.by, ...(s.note ? { note: s.note } : {}), digest: s.digest });
      } catch (err) {
        // The identity workflow is gone (terminated by an operator): nothing waits for this answer.
        log.warn('could not deliver a revocation decision', { workflowId: s.workflowId, requestId: s.requestId, error: (err as Error).message });
      }
    }
    prune();
    if (state.held.length === 0 && state.window.length === 0 && !woke) return state;
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof revocationGuardWorkflow>({ ...input, state });
    }
  }
}

