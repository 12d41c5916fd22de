import { ApplicationFailure, condition, continueAsNew, log, patched, proxyActivities, setCurrentDetails, setHandler, sleep, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import { msToNumber } from '@temporalio/common/lib/time';
import type { IdflowActivities } from '../activities';
import type { ProvisionInput, ProvisionResult, TransformMode, VerifyResult } from '../activities/identity';
import type { RevokeResult } from '../activities/revoke';
import { type EventOutcome, eventOutcomeQuery, sourceLabel, hrEventSignal, type IdentityStatus, type IdentityWorkflowInput, type PendingRevocation, statusQuery, type TargetOutcome, waitForOutcomeUpdate } from '../contracts/identity';
import type { LifecyclePolicy } from '../domain/config';
import type { HrEvent, IdentityEvent } from '../domain/events';
import type { SourceIdentity } from '../domain/types';
import { readPerson } from '../domain/person';
import { REVOCATION_GUARD_WORKFLOW_ID, type RevocationDecision, revocationDecisionSignal } from '../contracts/revocation-guard';
import { caseOnlyMatch, sameEmployeeId } from '../domain/employee-id';
import type { Action } from '../domain/plan';
import { identityWorkflowV1 } from './identity-v1';
import { ensureManagedGroups } from './managed-group';
import { IdflowAwaitingApproval, IdflowEventType, IdflowLeftButInSource, IdflowOutcome, IdflowRevocationPending, IdflowTargets } from './search-attributes';

export * from '../contracts/identity';

/**
 * One workflow per person: the one writer for their accounts. Events are processed in arrival
 * order, each through fetch -> transform -> provision -> verify on every target; a future-dated
 * event waits on its own timer, never in front of the others.
 *
 * A leaver (HR, or the person gone from the source) is revoke-only and needs no answer from the
 * source: the accounts are found by idflow's markers, the retention starts the moment the revoke
 * is decided, and every target that has not confirmed it is retried, durably, until it does. The
 * workflow stays for the retention, so the deletion is a durable timer a rehire can cancel, and a
 * reconcile keeps its hands off the person meanwhile.
 */

const RECENT_LIMIT = 50;
const VERIFY_ATTEMPTS = 5;
const REVOKE_RETRY_MAX_MS = 10 * 60_000;
const GUARD_ASK_AGAIN = '10 minutes';

const { fetchIdentity, fetchIdentityById, transformIdentity, lifecyclePolicy, leaverSourceIds, enabledTargets, handOverEvent } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});
const { provisionAccount, verifyAccount } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 8 },
});
// No end to the attempts: nothing that takes access away goes ahead without the guard's answer.
const { requestRevocationPermit, withdrawRevocationRequest } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
// Few attempts here: the workflow's own retries, with no end, take over from them.
const { revokeAccounts } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '10s', maximumAttempts: 3 },
});

interface Retention {
  until: number;
  /** Started by the source removing the person (not HR): the person reappearing there ends it. */
  bySource: boolean;
}

export async function identityWorkflow(input: IdentityWorkflowInput): Promise<IdentityStatus> {
  // Runs begun before revoke-only leavers finish as they began.
  if (!patched('identity-revoke-only')) return identityWorkflowV1(input);
  const { employeeId } = input;
  const queue: IdentityEvent[] = [...(input.pending ?? [])];
  const scheduled: HrEvent[] = [...((input.scheduled ?? []) as HrEvent[])];
  const recent: EventOutcome[] = [...(input.recent ?? [])];
  let processing: string | null = null;
  let waiting: string | null = null;
  let duplicatesIgnored = input.duplicatesIgnored ?? 0;
  let retention: Retention | null = input.retentionUntil ? { until: Date.parse(input.retentionUntil), bySource: input.retentionBySource ?? false } : null;
  const revocations: Revocations = { pending: [...(input.revocationPending ?? [])], nextAttemptAt: input.revocationPending?.length ? Date.now() : null, sourceError: null, decidedBy: null };
  const known = new SourceIds([...(input.sourceIds ?? []), ...(input.sourceId ? [input.sourceId] : [])]);
  // HR said the person left and their accounts are purged, but the source still lists them: the workflow
  // stays, so no reconcile re-creates them, until the source agrees or HR rehires them.
  let leftSince: number | null = input.leftSince ? Date.parse(input.leftSince) : null;

  setHandler(hrEventSignal, (event) => {
    queue.push(event);
  });
  const guardDecisions = new Map<string, RevocationDecision>();
  setHandler(revocationDecisionSignal, (decision) => {
    guardDecisions.set(decision.requestId, decision);
  });
  const outcomeOf = (eventId: string) => recent.find((r) => r.eventId === eventId);
  const isScheduled = (eventId: string) => scheduled.some((e) => e.eventId === eventId);
  setHandler(eventOutcomeQuery, (eventId) => outcomeOf(eventId) ?? null);
  setHandler(statusQuery, (): IdentityStatus => ({
    employeeId,
    queued: queue.length,
    processing,
    waiting,
    recent,
    duplicatesIgnored,
    scheduled: scheduled.map((e) => ({ eventId: e.eventId!, type: e.type, effectiveAt: e.effectiveAt! })),
    revocationPending: revocations.pending,
    ...(retention ? { retentionUntil: new Date(retention.until).toISOString() } : {}),
    ...(leftSince !== null ? { leftSince: new Date(leftSince).toISOString() } : {}),
  }));
  setHandler(waitForOutcomeUpdate, async (eventId) => {
    await condition(() => outcomeOf(eventId) !== undefined);
    return outcomeOf(eventId)!;
  }, {
    validator: (eventId) => {
      if (!outcomeOf(eventId) && processing !== eventId && !isScheduled(eventId) && !queue.some((e) => e.eventId === eventId)) throw new Error(`no event ${eventId} has reached this workflow`);
    },
  });

  const policy = await lifecyclePolicy();
  const source = sourceLabel(policy);
  const record = (outcome: EventOutcome) => {
    recent.push(outcome);
    if (recent.length > RECENT_LIMIT) recent.splice(0, recent.length - RECENT_LIMIT);
    upsertSearchAttributes([{ key: IdflowOutcome, value: outcome.outcome }]);
    upsertMemo({ summary: `${outcome.type} ${employeeId}: ${outcome.outcome}${outcome.error ? ` (${outcome.error.slice(0, 200)})` : ''}` });
  };
  const wait = (what: string | null) => {
    waiting = what;
    setCurrentDetails(what ? `waiting: ${what}` : '');
  };
  const remember = (since: number) => {
    leftSince = since;
    upsertSearchAttributes([{ key: IdflowLeftButInSource, value: true }]);
  };
  const forget = () => {
    leftSince = null;
    upsertSearchAttributes([{ key: IdflowLeftButInSource, value: false }]);
  };
  /** The source still has the person as an enabled user: it has not caught up with HR. A source that cannot answer counts as yes. */
  const stillInSource = async (): Promise<boolean> => {
    try {
      const identity = await fetchIdentity(employeeId);
      return identity !== null && readPerson(identity).enabled;
    } catch {
      return true;
    }
  };

  /**
   * Asks the mass-revocation guard before anything is taken away. Held, it waits for a human's
   * decision; `overtaken` ends the wait early (a leaver arriving behind a held change), and the
   * request is withdrawn.
   */
  const permit = async (eventId: string, type: string, reason: string, targets: string[], overtaken?: () => boolean): Promise<Permit> => {
    const requestId = `${workflowInfo().workflowId}/${eventId}`;
    const requestedBy = current && 'requestedBy' in current ? current.requestedBy : undefined;
    const request = { requestId, workflowId: workflowInfo().workflowId, employeeId, eventId, type, reason, targets, ...(requestedBy ? { requestedBy } : {}) };
    let answer = await requestRevocationPermit(request);
    if (answer.granted) return { granted: true };
    wait(`revocation held by the mass-revocation guard (${answer.reason}); decide with: idflow approve ${REVOCATION_GUARD_WORKFLOW_ID} (or reject)`);
    upsertSearchAttributes([{ key: IdflowAwaitingApproval, value: true }]);
    // Asked again now and then: a guard an operator terminated has forgotten the hold, and answers afresh.
    while (!(await condition(() => guardDecisions.has(requestId) || (overtaken?.() ?? false), GUARD_ASK_AGAIN))) {
      answer = await requestRevocationPermit(request);
      if (answer.granted) guardDecisions.set(requestId, { requestId, approved: true, by: 'the guard, asked again', digest: '' });
    }
    // Decided while the withdrawal was on its way: the decision stands and is on its way too.
    if (!guardDecisions.has(requestId) && !(await withdrawRevocationRequest(requestId))) await condition(() => guardDecisions.has(requestId));
    upsertSearchAttributes([{ key: IdflowAwaitingApproval, value: false }]);
    wait(null);
    const decision = guardDecisions.get(requestId);
    guardDecisions.delete(requestId);
    if (!decision) return { granted: false, withdrawn: true, why: 'a leaver arrived while this change was held; the leaver decides' };
    return decision.approved ? { granted: true, by: decision.by } : { granted: false, why: `held by the mass-revocation guard and rejected by ${decision.by}${decision.note ? ` (${decision.note})` : ''}` };
  };
  let current: IdentityEvent | null = null;
  /**
   * The source spells the person's employee id differently (E9020 for e9020). Case-sensitive ids: the
   * event is refused and nothing is done. Case-insensitive: it goes to the workflow of the source's spelling.
   */
  const misspelled = async (eventId: string, type: EventOutcome['type'], spelled: string): Promise<EventOutcome> => {
    if (policy.employeeIds === 'case-insensitive' && current) {
      const to = await handOverEvent({ ...current, employeeId: spelled } as IdentityEvent);
      return { eventId, type, outcome: 'ignored', targets: [], error: `handed to ${to}: ${source} spells the employee id ${spelled} (lifecycle.employeeIds: case-insensitive)` };
    }
    return { eventId, type, outcome: 'failed', targets: [], error: `employee id ${employeeId} matches ${spelled} in ${source} only by case; employee ids are case-sensitive (lifecycle.employeeIds), so nothing was done: send the event for ${spelled}` };
  };
  const ctx: EventContext = { employeeId, policy, source, known, wait, permit, misspelled, overtaken: () => queue.some((e) => e.type === 'leaver' || e.type === 'source-removed') };
  let revocationFlag = false;
  const showRevocations = () => {
    const pending = outstanding(revocations);
    if (pending !== revocationFlag) upsertSearchAttributes([{ key: IdflowRevocationPending, value: pending }]);
    revocationFlag = pending;
  };

  /**
   * Decides the revoke (recorded at once), then tries every target; the ones that fail stay pending.
   * `retainBySource`: a leaver, whose retention starts once the revoke is decided. A purge deletes
   * what an earlier, guarded revoke disabled, so only a disable asks the guard.
   */
  const revoke = async (eventId: string, type: EventOutcome['type'], policyOnTarget: 'disable' | 'delete', reason: string, retainBySource?: boolean): Promise<EventOutcome> => {
    // Decided now, unless a human has to decide: the retention counts from the decision.
    let decidedAt = Date.now();
    const located = await leaverSourceIds(employeeId);
    const spelled = patched('identity-canonical-employee-id') ? caseOnlyMatch(employeeId, located.employeeIds ?? []) : null;
    if (spelled) return misspelled(eventId, type, spelled);
    if (policyOnTarget === 'disable' && patched('identity-revocation-guard')) {
      const answer = await permit(eventId, type, reason, await enabledTargets());
      if (!answer.granted) return { eventId, type, outcome: 'rejected', targets: [], error: `${answer.why}; nothing was revoked` };
      if (answer.by) decidedAt = Date.now();
    }
    if (retainBySource !== undefined) retention = { until: decidedAt + msToNumber(policy.leaverRetention as Duration), bySource: retainBySource };
    known.add(located.sourceIds);
    revocations.sourceError = located.sourceError ?? null;
    revocations.pending = pendingOn(await enabledTargets(), policyOnTarget, eventId);
    revocations.decidedBy = { eventId, type, reason };
    const results = await attemptRevocations(ctx, revocations, reason);
    showRevocations();
    return revokeOutcome(eventId, type, results, revocations, source, located.sourceError);
  };

  const retryRevocations = async () => {
    const wasPending = outstanding(revocations);
    const decided = revocations.decidedBy ?? { eventId: revocations.pending[0]?.eventId ?? 'leaver', type: 'leaver' as const, reason: 'leaver event' };
    if (revocations.sourceError !== null) {
      // The first look-up could not reach the source: ask again, and revoke any account it names that the markers had not.
      const located = await leaverSourceIds(employeeId);
      if (!located.sourceError) {
        revocations.sourceError = null;
        const fresh = located.sourceIds.filter((id) => !known.has(id));
        known.add(located.sourceIds);
        if (fresh.length > 0) {
          const others = (await enabledTargets()).filter((target) => !revocations.pending.some((p) => p.target === target));
          revocations.pending.push(...pendingOn(others, revocations.pending[0]?.policy ?? 'disable', decided.eventId));
        }
      } else revocations.sourceError = located.sourceError;
    }
    const results = await attemptRevocations(ctx, revocations, decided.reason);
    showRevocations();
    if (wasPending && revocations.pending.length === 0 && revocations.sourceError === null) {
      record(revokeOutcome(`${decided.eventId}:confirmed`, decided.type, results, revocations, source));
    }
  };

  for (;;) {
    promoteDue(scheduled, queue);
    if (queue.length === 0) {
      const now = Date.now();
      const retryDue = revocations.nextAttemptAt !== null && revocations.nextAttemptAt <= now;
      if (retryDue) {
        await retryRevocations();
        continue;
      }
      if (retention && retention.until <= now) {
        wait(null);
        const id = `retention-ended@${workflowInfo().historyLength}`;
        const byHr = !retention.bySource;
        retention = null;
        record(await revoke(id, 'retention-ended', 'delete', 'leaver retention ended'));
        if (byHr && patched('identity-remember-leaver') && (await stillInSource())) remember(Date.now());
        continue;
      }
      if (leftSince !== null && queue.length === 0 && scheduled.length === 0 && revocations.nextAttemptAt === null) {
        wait(`${source} still lists ${employeeId}, whom HR said left on ${new Date(leftSince).toISOString()}: not re-created; checked again every ${String(policy.leaverSourceCheck ?? '1 day')}, until ${source} agrees or HR rehires`);
        if (!(await condition(() => queue.length > 0, (policy.leaverSourceCheck ?? '1 day') as Duration)) && !(await stillInSource())) forget();
        continue;
      }
      const next = Math.min(scheduled[0] ? Date.parse(scheduled[0].effectiveAt!) : Infinity, revocations.nextAttemptAt ?? Infinity, retention?.until ?? Infinity);
      if (next === Infinity) {
        wait(null);
        if (!(await condition(() => queue.length > 0, input.idleTimeout ?? '10 seconds'))) break;
      } else {
        wait(describeWait(scheduled, revocations, retention));
        await condition(() => queue.length > 0, Math.max(1, next - now));
      }
    } else {
      const event = queue.shift()!;
      const eventId = event.eventId ?? `${event.type}@${workflowInfo().historyLength}`;
      if (outcomeOf(eventId) || (isScheduled(eventId) && !isDue(event))) {
        // Its first outcome stands; the eventOutcome query keeps answering with it.
        duplicatesIgnored += 1;
        continue;
      }
      const effectiveIn = 'effectiveAt' in event && event.effectiveAt ? Date.parse(event.effectiveAt) - Date.now() : 0;
      if (effectiveIn > 0) {
        const horizon = msToNumber((policy.maxEffectiveIn ?? '400 days') as Duration);
        if (effectiveIn > horizon) {
          record({ eventId, type: event.type, outcome: 'failed', targets: [], error: `effectiveAt ${(event as HrEvent).effectiveAt} is further ahead than lifecycle.maxEffectiveIn (${policy.maxEffectiveIn ?? '400 days'}); nothing was done` });
          continue;
        }
        if (retention === null && event.type === 'joiner' && policy.prepareJoinersDisabled) {
          // Only ever creates: someone who already has an account keeps it as it is until the start date.
          // Its outcome is the preparation's; the joiner itself still runs, and waits for the source, at its time.
          processing = eventId;
          record(await runEvent(ctx, `${eventId}:prepared`, event.type, 'prepare'));
          processing = null;
        }
        scheduled.push({ ...(event as HrEvent), eventId });
        scheduled.sort((a, b) => Date.parse(a.effectiveAt!) - Date.parse(b.effectiveAt!));
        log.info('scheduled for its effective time', { eventId, effectiveAt: (event as HrEvent).effectiveAt });
        continue;
      }
      if (leftSince !== null) {
        if (event.type === 'rehire' || event.type === 'joiner') forget();
        else {
          record({ eventId, type: event.type, outcome: 'ignored', targets: [], error: `HR said ${employeeId} left (${new Date(leftSince).toISOString()}) and their accounts were deleted after the retention; ${source} still listing them does not re-create them: only a rehire or a joiner does` });
          continue;
        }
      }
      const endsRetention = event.type === 'rehire' || event.type === 'joiner' || (event.type === 'source-changed' && retention?.bySource === true);
      // HR's leaver for someone the source removed: revoked again, and the retention is HR's from now on.
      const hrTakesOver = event.type === 'leaver' && retention?.bySource === true;
      if (retention !== null && !endsRetention && !hrTakesOver) {
        record({ eventId, type: event.type, outcome: 'ignored', targets: [], error: retention.bySource ? `the person was removed from ${source}; their accounts stay revoked until ${source} has them again or HR rehires them` : 'the person has left; only a rehire or a joiner applies during retention' });
        continue;
      }
      processing = eventId;
      current = event;
      upsertSearchAttributes([{ key: IdflowEventType, value: event.type }]);
      if (endsRetention && retention !== null) {
        // Coming back cancels what was still pending of the revoke and the scheduled deletion.
        retention = null;
        revocations.pending = [];
        revocations.nextAttemptAt = null;
        revocations.sourceError = null;
        showRevocations();
      }
      if (event.type === 'leaver' || event.type === 'source-removed') {
        const bySource = event.type === 'source-removed';
        if (bySource) known.add([event.sourceId]);
        record(await revoke(eventId, event.type, 'disable', bySource ? `removed from ${source} (${event.hard ? 'permanently deleted' : 'deleted'})` : 'leaver event', bySource));
      } else if (event.type === 'source-changed') {
        known.add([event.sourceId]);
        record(await sourceChanged(ctx, eventId, event.sourceId, () => revoke(eventId, event.type, 'disable', `no longer in ${source}`, true)));
      } else {
        record(await runEvent(ctx, eventId, event.type, 'apply', true));
      }
      processing = null;
    }
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof identityWorkflow>({
        ...input,
        pending: queue,
        scheduled,
        recent,
        duplicatesIgnored,
        retentionUntil: retention ? new Date(retention.until).toISOString() : undefined,
        retentionBySource: retention?.bySource,
        sourceId: undefined,
        sourceIds: known.all(),
        revocationPending: revocations.pending,
        leftSince: leftSince !== null ? new Date(leftSince).toISOString() : undefined,
      });
    }
  }
  return { employeeId, queued: 0, processing: null, waiting: null, recent, duplicatesIgnored };
}

/** Every source id seen for the person, in the order seen. */
class SourceIds {
  private readonly ids: string[] = [];
  constructor(initial: string[]) {
    this.add(initial);
  }
  add(ids: readonly string[]): void {
    for (const id of ids) if (id && !this.ids.includes(id)) this.ids.push(id);
  }
  has(id: string): boolean {
    return this.ids.includes(id);
  }
  all(): string[] {
    return [...this.ids];
  }
  /** The one the person's workflow saw last: it marks their account. */
  latest(): string | undefined {
    return this.ids[this.ids.length - 1];
  }
}

interface Revocations {
  pending: PendingRevocation[];
  nextAttemptAt: number | null;
  /** The last look-up of the person's source ids could not reach the source. */
  sourceError: string | null;
  decidedBy: { eventId: string; type: EventOutcome['type']; reason: string } | null;
}

interface EventContext {
  employeeId: string;
  policy: LifecyclePolicy;
  /** How reasons name the source. */
  source: string;
  known: SourceIds;
  wait: (what: string | null) => void;
  permit: (eventId: string, type: string, reason: string, targets: string[], overtaken?: () => boolean) => Promise<Permit>;
  misspelled: (eventId: string, type: EventOutcome['type'], spelled: string) => Promise<EventOutcome>;
  /** A leaver is queued behind the event being processed. */
  overtaken: () => boolean;
}

type Permit = { granted: true; by?: string } | { granted: false; why: string; withdrawn?: boolean };

/** Something of a decided revoke is not confirmed yet: a target, or the source's list of the person's ids. */
function outstanding(revocations: Revocations): boolean {
  return revocations.pending.length > 0 || revocations.sourceError !== null;
}

function pendingOn(targets: readonly string[], policy: PendingRevocation['policy'], eventId: string): PendingRevocation[] {
  const since = new Date(Date.now()).toISOString();
  return targets.map((target) => ({ target, policy, eventId, attempts: 0, since }));
}

function isDue(event: IdentityEvent): boolean {
  return !('effectiveAt' in event) || !event.effectiveAt || Date.parse(event.effectiveAt) <= Date.now();
}

/** Future events whose time has come join the queue, in the order they take effect. */
function promoteDue(scheduled: HrEvent[], queue: IdentityEvent[]): void {
  const due: HrEvent[] = [];
  while (scheduled[0] !== undefined && isDue(scheduled[0])) due.push(scheduled.shift()!);
  queue.unshift(...due);
}

function describeWait(scheduled: HrEvent[], revocations: Revocations, retention: Retention | null): string {
  const parts: string[] = [];
  if (revocations.pending.length > 0) parts.push(`revocation pending on ${revocations.pending.map((p) => p.target).join(', ')} (next attempt ${new Date(revocations.nextAttemptAt!).toISOString()})`);
  if (retention) parts.push(`leaver retention until ${new Date(retention.until).toISOString()}; a rehire cancels the deletion`);
  const next = scheduled[0];
  if (next) parts.push(`${next.type} effective at ${next.effectiveAt}${scheduled.length > 1 ? ` (+${scheduled.length - 1} more)` : ''}`);
  return parts.join('; ');
}

/** One attempt on every pending target; what fails stays pending with its error, and the next attempt is timed. */
async function attemptRevocations(ctx: EventContext, revocations: Revocations, reason: string): Promise<TargetOutcome[]> {
  const sourceIds = ctx.known.all();
  const results = await Promise.all(revocations.pending.map(async (p): Promise<{ p: PendingRevocation; outcome: TargetOutcome; done: boolean }> => {
    p.attempts += 1;
    try {
      const r: RevokeResult = await revokeAccounts({ target: p.target, employeeId: ctx.employeeId, sourceIds, policy: p.policy, reason });
      return { p, outcome: revokeTargetOutcome(r), done: true };
    } catch (err) {
      p.lastError = errorMessage(err);
      return { p, outcome: { target: p.target, actions: 0, findings: [], verified: false, error: p.lastError }, done: false };
    }
  }));
  revocations.pending = results.filter((r) => !r.done).map((r) => r.p);
  const attempts = Math.max(0, ...revocations.pending.map((p) => p.attempts));
  const first = msToNumber((ctx.policy.revokeRetryInterval ?? '10 seconds') as Duration);
  revocations.nextAttemptAt = outstanding(revocations) ? Date.now() + Math.min(first * 2 ** Math.max(0, attempts - 1), REVOKE_RETRY_MAX_MS) : null;
  return results.map((r) => r.outcome);
}

function revokeTargetOutcome(r: RevokeResult): TargetOutcome {
  const actions = r.accounts.reduce((n, a) => n + a.applied.length, 0);
  return { target: r.target, actions, findings: r.findings, verified: true, ...(r.residual.length ? { residual: r.residual } : {}) };
}

function revokeOutcome(eventId: string, type: EventOutcome['type'], targets: TargetOutcome[], revocations: Revocations, source: string, sourceError?: string): EventOutcome {
  const pending = revocations.pending.length > 0;
  const changed = targets.some((t) => t.actions > 0);
  const notes = [
    ...(pending ? [`revocation pending on ${revocations.pending.map((p) => p.target).join(', ')}: retried until confirmed`] : []),
    ...(sourceError ? [`${source} did not answer (${sourceError.slice(0, 200)}); the accounts were found by idflow's markers, and ${source} is asked again`] : []),
  ];
  return { eventId, type, outcome: pending || sourceError ? 'pending' : changed ? 'provisioned' : 'verified', targets, ...(notes.length ? { error: notes.join('; ') } : {}) };
}

/**
 * The source said the person changed. Not finding them by employee id right after is not yet a
 * leaver (replication lags): only when their object is gone too are their accounts revoked.
 */
async function sourceChanged(ctx: EventContext, eventId: string, sourceId: string, revokeGone: () => Promise<EventOutcome>): Promise<EventOutcome> {
  // The source has just reported the person, so a miss may be its replication lagging (Graph's reads
  // trail its delta by seconds): ask again with backoff, visibly, for a bounded time before deciding.
  const patient = patched('identity-source-lag');
  const deadline = Date.now() + msToNumber((ctx.policy.sourceLagWait ?? '1 minute') as Duration);
  let delay = 1_000;
  let waited = false;
  for (;;) {
    let identity: SourceIdentity | null;
    try {
      identity = await fetchIdentity(ctx.employeeId);
    } catch (err) {
      return { eventId, type: 'source-changed', outcome: 'failed', targets: [], error: errorMessage(err) };
    }
    if (identity !== null) {
      if (waited) ctx.wait(null);
      return runEvent(ctx, eventId, 'source-changed', 'apply', false, identity);
    }
    const byId = await fetchIdentityById(sourceId);
    if (!patient || Date.now() + delay > deadline) {
      if (waited) ctx.wait(null);
      if (byId === null) return revokeGone();
      return { eventId, type: 'source-changed', outcome: 'ignored', targets: [], error: `${ctx.source} still has ${sourceId}${byId.employeeId && byId.employeeId !== ctx.employeeId ? ` (now with employee id ${byId.employeeId})` : ''} but did not list it under employee id ${ctx.employeeId}: not treated as a leaver` };
    }
    waited = true;
    ctx.wait(`${ctx.source} reported ${ctx.employeeId} changed but does not list them yet (replication lag): asked again until ${new Date(deadline).toISOString()}`);
    if (await condition(ctx.overtaken, delay)) {
      ctx.wait(null);
      return { eventId, type: 'source-changed', outcome: 'ignored', targets: [], error: `a leaver arrived while waiting for ${ctx.source} to list ${ctx.employeeId}; the leaver decides` };
    }
    delay = Math.min(delay * 2, 15_000);
  }
}

/**
 * fetch -> transform -> provision -> verify for every target; one target failing never stops another.
 * `patient`: an HR event may come before the source has the person, so wait for them, visibly.
 */
async function runEvent(ctx: EventContext, eventId: string, type: EventOutcome['type'], mode: TransformMode, patient = false, fetched?: SourceIdentity): Promise<EventOutcome> {
  const { employeeId, known } = ctx;
  try {
    const identity = fetched ?? (patient ? await fetchWithPatience(ctx) : await fetchIdentity(employeeId));
    if (!identity) throw ApplicationFailure.nonRetryable(`employee ${employeeId} is not in ${ctx.source}`, 'Source.notFound');
    if (identity.employeeId !== employeeId && sameEmployeeId(identity.employeeId, employeeId) && patched('identity-canonical-employee-id')) return ctx.misspelled(eventId, type, identity.employeeId);
    known.add([identity.id]);
    const { decisions } = await transformIdentity({ employeeId, mode, identity, lastSourceId: known.latest() });
    upsertSearchAttributes([{ key: IdflowTargets, value: decisions.map((d) => d.target) }]);
    // Behind the guard, what takes access away is held back at first and applied once the guard allows it.
    const guarded = patched('identity-revocation-guard');
    const provisioned = await Promise.all(decisions.map(async (decision): Promise<Provisioned> => {
      const input = { target: decision.target, employeeId, decision, ...(guarded ? { withholdRevocations: true } : {}) };
      try {
        let result: ProvisionResult = await provisionAccount(input);
        if (result.groupsToCreate?.length) {
          const created = await ensureManagedGroups(decision.target, result.groupsToCreate);
          result = await provisionAccount({ ...input, groupsJustCreated: created.map((g) => g.name) });
        }
        if (result.withheld?.length) return { input, result, withheld: result.withheld };
        return { outcome: await verifiedOutcome(input, result) };
      } catch (err) {
        return { outcome: { target: decision.target, actions: writesBeforeFailure(err), findings: [], verified: false, error: errorMessage(err) } };
      }
    }));
    const withheld = provisioned.filter((p): p is Withheld => 'withheld' in p);
    let permitted: Permit = { granted: true };
    if (withheld.length > 0) {
      const planned = withheld.map((w) => `${w.input.target}: ${w.withheld.map((a) => describeAction(a)).join(', ')}`).join('; ');
      permitted = await ctx.permit(eventId, type, planned, withheld.map((w) => w.input.target), ctx.overtaken);
    }
    const targets = await Promise.all(provisioned.map(async (p): Promise<TargetOutcome> => {
      if ('outcome' in p) return p.outcome;
      if (!permitted.granted) return { target: p.input.target, actions: p.result.applied.length, findings: [], verified: false, error: `${permitted.why}: ${p.withheld.map((a) => describeAction(a)).join(', ')} not applied` };
      try {
        const again = await provisionAccount({ ...p.input, withholdRevocations: false });
        return await verifiedOutcome(p.input, { ...again, applied: [...p.result.applied, ...again.applied] });
      } catch (err) {
        return { target: p.input.target, actions: p.result.applied.length, findings: [], verified: false, error: errorMessage(err) };
      }
    }));
    if (!permitted.granted) return { eventId, type, outcome: permitted.withdrawn ? 'ignored' : 'rejected', targets, error: permitted.why };
    const failed = targets.some((t) => t.error || t.findings.length > 0);
    const changed = targets.some((t) => t.actions > 0);
    return { eventId, type, outcome: failed ? 'failed' : changed ? 'provisioned' : 'verified', targets };
  } catch (err) {
    const overtaken = (err as ApplicationFailure).type === 'Lifecycle.overtaken';
    return { eventId, type, outcome: overtaken ? 'ignored' : 'failed', targets: [], error: errorMessage(err) };
  }
}

type Provisioned = { outcome: TargetOutcome } | Withheld;
interface Withheld {
  input: ProvisionInput;
  result: ProvisionResult;
  withheld: Action[];
}

async function verifiedOutcome(input: ProvisionInput, result: ProvisionResult): Promise<TargetOutcome> {
  const verified = await verifyUntilConsistent(input);
  return {
    target: input.target,
    actions: result.applied.length,
    findings: result.plan.findings.map((f) => `${f.kind}: ${f.detail}`),
    verified: verified.verified,
    ...(verified.verified ? {} : { error: verified.findings?.length ? `verification failed: ${verified.findings.join('; ')}` : `verification found ${verified.differences.length} differences: ${verified.differences.map((d) => `${d.op} (${d.reason})`).join('; ')}` }),
  };
}

function describeAction(a: Action): string {
  return `${a.op} ${a.userName}${'group' in a ? ` from ${a.group}` : ''}`;
}

/** HR often announces a joiner before the source has the account: wait for it with backoff, visibly, up to the configured limit. */
async function fetchWithPatience(ctx: EventContext): Promise<SourceIdentity> {
  const deadline = Date.now() + msToNumber(ctx.policy.waitForSourceUser as Duration);
  let delay = 5_000;
  for (;;) {
    const identity = await fetchIdentity(ctx.employeeId);
    if (identity) return identity;
    if (Date.now() + delay > deadline) {
      throw ApplicationFailure.nonRetryable(`employee ${ctx.employeeId} was not found in ${ctx.source} within ${ctx.policy.waitForSourceUser}`, 'Source.notFound');
    }
    ctx.wait(`employee ${ctx.employeeId} to appear in ${ctx.source} (until ${new Date(deadline).toISOString()})`);
    if (patched('identity-leaver-overtakes-joiner')) {
      // A leaver never waits behind a joiner that is itself still waiting for the source.
      if (await condition(ctx.overtaken, delay)) throw ApplicationFailure.nonRetryable(`a leaver arrived while waiting for ${ctx.employeeId} to appear in ${ctx.source}; the leaver decides`, 'Lifecycle.overtaken');
    } else await sleep(delay);
    delay = Math.min(delay * 2, 10 * 60_000);
  }
}

/** IAM is eventually consistent: a read right after a write may lag, so verify a few times. */
async function verifyUntilConsistent(input: Parameters<typeof verifyAccount>[0]): Promise<VerifyResult> {
  let result = await verifyAccount(input);
  // An account that is not idflow's, or another person's, does not become so by waiting.
  for (let attempt = 1; !result.verified && !result.findings?.length && attempt < VERIFY_ATTEMPTS; attempt++) {
    await sleep(attempt * 1000);
    result = await verifyAccount(input);
  }
  return result;
}

/** How many writes a failed provisioning made before it failed (activities/identity.ts afterWrites); 0 if it says none. */
function writesBeforeFailure(err: unknown): number {
  const details = ((err as { cause?: { details?: unknown[] } }).cause?.details ?? []) as { writesBeforeFailure?: unknown[] }[];
  const last = details[details.length - 1];
  return Array.isArray(last?.writesBeforeFailure) ? last.writesBeforeFailure.length : 0;
}

/**
 * The innermost cause's message: a child workflow's failure wraps an activity's, which wraps what the
 * target said, and the wrappers say only "Activity task failed" or "Child Workflow execution failed".
 */
function errorMessage(err: unknown): string {
  const messages: string[] = [];
  for (let e = err as { cause?: unknown; message?: string } | undefined, depth = 0; e && typeof e === 'object' && depth < 10; e = e.cause as typeof e, depth++) {
    if (e.message && !WRAPPERS.test(e.message) && !messages.includes(e.message)) messages.push(e.message);
  }
  return messages.length > 0 ? messages.join(': ') : ((err as { message?: string })?.message ?? String(err));
}

/** What Temporal's wrappers say, which names no cause. */
const WRAPPERS = /^(Activity task failed|Activity task timed out|Child Workflow execution failed|Child Workflow execution timed out)$/;
