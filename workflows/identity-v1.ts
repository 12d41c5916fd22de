import { ApplicationFailure, condition, continueAsNew, log, patched, proxyActivities, setCurrentDetails, setHandler, sleep, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import { type EventOutcome, eventOutcomeQuery, hrEventSignal, type IdentityStatus, type IdentityWorkflowInput, statusQuery, type TargetOutcome, waitForOutcomeUpdate } from '../contracts/identity';
import { msToNumber } from '@temporalio/common/lib/time';
import type { IdflowActivities } from '../activities';
import type { ProvisionResult, TransformMode, VerifyResult } from '../activities/identity';
import type { LifecyclePolicy } from '../domain/config';
import type { HrEvent, IdentityEvent } from '../domain/events';
import type { SourceIdentity } from '../domain/types';
import { ensureManagedGroups } from './managed-group';
import { IdflowEventType, IdflowOutcome, IdflowTargets } from './search-attributes';

/**
 * The identity workflow as it ran before the `identity-revoke-only` patch, kept unchanged so that
 * runs started by older workers replay and finish the way they began. New runs never enter it.
 * Remove it (and deprecate the patch) once no such run is open and none of its histories is kept.
 */

const RECENT_LIMIT = 50;
const VERIFY_ATTEMPTS = 5;

const { fetchIdentity, transformIdentity, lifecyclePolicy } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});
const { provisionAccount, verifyAccount } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 8 },
});

export async function identityWorkflowV1(input: IdentityWorkflowInput): Promise<IdentityStatus> {
  const { employeeId } = input;
  const queue: IdentityEvent[] = [...(input.pending ?? [])];
  const recent: EventOutcome[] = [...(input.recent ?? [])];
  let processing: string | null = null;
  let waiting: string | null = null;
  let duplicatesIgnored = input.duplicatesIgnored ?? 0;
  let retentionUntil: number | null = input.retentionUntil ? Date.parse(input.retentionUntil) : null;
  const known: Known = { sourceId: input.sourceId };

  setHandler(hrEventSignal, (event) => {
    queue.push(event);
  });
  setHandler(eventOutcomeQuery, (eventId) => recent.find((r) => r.eventId === eventId) ?? null);
  setHandler(statusQuery, () => ({ employeeId, queued: queue.length, processing, waiting, recent, duplicatesIgnored }));
  const outcomeOf = (eventId: string) => recent.find((r) => r.eventId === eventId);
  setHandler(waitForOutcomeUpdate, async (eventId) => {
    await condition(() => outcomeOf(eventId) !== undefined);
    return outcomeOf(eventId)!;
  }, {
    validator: (eventId) => {
      if (!outcomeOf(eventId) && processing !== eventId && !queue.some((e) => e.eventId === eventId)) throw new Error(`no event ${eventId} has reached this workflow`);
    },
  });

  const policy = await lifecyclePolicy();
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

  for (;;) {
    if (retentionUntil !== null) {
      // A leaver: the accounts are disabled; delete them when retention ends unless the person comes back.
      wait(`leaver retention until ${new Date(retentionUntil).toISOString()}; a rehire cancels the deletion`);
      const comeback = await condition(() => queue.length > 0, Math.max(0, retentionUntil - Date.now()));
      if (!comeback) {
        wait(null);
        record(await runEvent(employeeId, `retention-ended@${workflowInfo().historyLength}`, 'retention-ended', 'purge', policy, known, wait));
        retentionUntil = null;
        continue;
      }
    } else {
      wait(null);
      const hasEvent = await condition(() => queue.length > 0, input.idleTimeout ?? '10 seconds');
      if (!hasEvent) break;
    }
    const event = queue.shift()!;
    const eventId = event.eventId ?? `${event.type}@${workflowInfo().historyLength}`;
    if (recent.some((r) => r.eventId === eventId)) {
      // Its first outcome stands; the eventOutcome query keeps answering with it.
      duplicatesIgnored += 1;
      continue;
    }
    const endsRetention = event.type === 'rehire' || event.type === 'joiner' || (event.type === 'source-removed' && event.hard === true);
    if (retentionUntil !== null && !endsRetention) {
      record({ eventId, type: event.type, outcome: 'ignored', targets: [], error: 'the person has left; only a rehire, a joiner or a permanent deletion in Entra ID applies during retention' });
      continue;
    }
    processing = eventId;
    upsertSearchAttributes([{ key: IdflowEventType, value: event.type }]);
    if (event.type === 'source-changed' || event.type === 'source-removed') known.sourceId = event.sourceId;
    const outcome = await handleEvent(employeeId, eventId, event, policy, known, wait);
    record(outcome);
    processing = null;
    if (event.type === 'leaver' && outcome.outcome !== 'failed') retentionUntil = Date.now() + msToNumber(policy.leaverRetention as Duration);
    else if (endsRetention) retentionUntil = null;
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof identityWorkflowV1>({ ...input, pending: queue, recent, duplicatesIgnored, retentionUntil: retentionUntil === null ? undefined : new Date(retentionUntil).toISOString(), sourceId: known.sourceId });
    }
  }
  return { employeeId, queued: 0, processing: null, waiting: null, recent, duplicatesIgnored };
}

/** What the workflow remembers about the person between events. */
interface Known {
  sourceId?: string;
}

async function handleEvent(employeeId: string, eventId: string, event: IdentityEvent, policy: LifecyclePolicy, known: Known, wait: (what: string | null) => void): Promise<EventOutcome> {
  if (event.type === 'source-changed') return runEvent(employeeId, eventId, event.type, 'apply', policy, known);
  if (event.type === 'source-removed') return runEvent(employeeId, eventId, event.type, event.hard ? 'purge' : 'revoke', policy, known);
  return handleHrEvent(employeeId, eventId, event, policy, known, wait);
}

async function handleHrEvent(employeeId: string, eventId: string, event: HrEvent, policy: LifecyclePolicy, known: Known, wait: (what: string | null) => void): Promise<EventOutcome> {
  const effectiveIn = event.effectiveAt ? Date.parse(event.effectiveAt) - Date.now() : 0;
  if (effectiveIn > 0) {
    if (event.type === 'joiner' && policy.prepareJoinersDisabled) {
      const prepared = await runEvent(employeeId, eventId, event.type, 'prepare', policy, known, wait);
      if (prepared.outcome === 'failed') return prepared;
    }
    wait(`${event.type} effective at ${event.effectiveAt}`);
    log.info('waiting for the effective time', { eventId, effectiveAt: event.effectiveAt });
    await sleep(effectiveIn);
    wait(null);
  }
  return runEvent(employeeId, eventId, event.type, event.type === 'leaver' ? 'revoke' : 'apply', policy, known, wait);
}

/**
 * fetch -> transform -> provision -> verify for every target; one target failing never stops another.
 * Without `wait`, a person missing from Entra ID is not waited for: their access is revoked.
 */
async function runEvent(employeeId: string, eventId: string, type: EventOutcome['type'], mode: TransformMode, policy: LifecyclePolicy, known: Known, wait?: (what: string | null) => void): Promise<EventOutcome> {
  try {
    const identity = wait ? await fetchWithPatience(employeeId, mode, policy, wait) : await fetchIdentity(employeeId);
    if (identity) known.sourceId = identity.id;
    const effectiveMode = identity === null && mode === 'apply' ? 'revoke' : mode;
    const { decisions } = await transformIdentity({ employeeId, mode: effectiveMode, identity, lastSourceId: known.sourceId });
    upsertSearchAttributes([{ key: IdflowTargets, value: decisions.map((d) => d.target) }]);
    const targets = await Promise.all(
      decisions.map(async (decision): Promise<TargetOutcome> => {
        const input = { target: decision.target, employeeId, decision };
        try {
          let result: ProvisionResult = await provisionAccount(input);
          // Gated: a history in which an older worker went on to verify must replay the same way.
          if (result.groupsToCreate?.length && patched('managed-group-child')) {
            const created = await ensureManagedGroups(decision.target, result.groupsToCreate);
            result = await provisionAccount({ ...input, groupsJustCreated: created.map((g) => g.name) });
          }
          const verified = await verifyUntilConsistent(input);
          return {
            target: decision.target,
            actions: result.applied.length,
            findings: result.plan.findings.map((f) => `${f.kind}: ${f.detail}`),
            verified: verified.verified,
            ...(verified.verified ? {} : { error: `verification found ${verified.differences.length} differences: ${verified.differences.map((d) => `${d.op} (${d.reason})`).join('; ')}` }),
          };
        } catch (err) {
          return { target: decision.target, actions: 0, findings: [], verified: false, error: errorMessage(err) };
        }
      }),
    );
    const failed = targets.some((t) => t.error || t.findings.length > 0);
    const changed = targets.some((t) => t.actions > 0);
    return { eventId, type, outcome: failed ? 'failed' : changed ? 'provisioned' : 'verified', targets };
  } catch (err) {
    return { eventId, type, outcome: 'failed', targets: [], error: errorMessage(err) };
  }
}

/**
 * HR often announces a joiner before Entra ID has the account: wait for it with backoff, visibly,
 * up to the configured limit. A leaver or purge needs no wait: absent is a valid answer for them.
 */
async function fetchWithPatience(employeeId: string, mode: TransformMode, policy: LifecyclePolicy, wait?: (what: string | null) => void): Promise<SourceIdentity | null> {
  const deadline = Date.now() + msToNumber(policy.waitForSourceUser as Duration);
  let delay = 5_000;
  for (;;) {
    const identity = await fetchIdentity(employeeId);
    if (identity || mode === 'revoke' || mode === 'purge') return identity;
    if (Date.now() + delay > deadline) {
      throw ApplicationFailure.nonRetryable(`employee ${employeeId} was not found in Entra ID within ${policy.waitForSourceUser}`, 'Source.notFound');
    }
    wait?.(`employee ${employeeId} to appear in Entra ID (until ${new Date(deadline).toISOString()})`);
    await sleep(delay);
    delay = Math.min(delay * 2, 10 * 60_000);
  }
}

/** IAM is eventually consistent: a read right after a write may lag, so verify a few times. */
async function verifyUntilConsistent(input: Parameters<typeof verifyAccount>[0]): Promise<VerifyResult> {
  let result = await verifyAccount(input);
  for (let attempt = 1; !result.verified && attempt < VERIFY_ATTEMPTS; attempt++) {
    await sleep(attempt * 1000);
    result = await verifyAccount(input);
  }
  return result;
}

function errorMessage(err: unknown): string {
  const e = err as { cause?: { message?: string }; message?: string };
  return e.cause?.message ?? e.message ?? String(err);
}
