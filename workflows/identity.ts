import { ApplicationFailure, condition, continueAsNew, defineQuery, defineSignal, log, proxyActivities, setHandler, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { IdflowActivities } from '../activities';
import type { ProvisionResult, VerifyResult } from '../activities/identity';
import type { HrEvent } from '../domain/events';
import { IdflowEventType, IdflowOutcome, IdflowTargets } from './search-attributes';

/** One workflow per person: their HR events are processed in order, one at a time. */

export const hrEventSignal = defineSignal<[HrEvent]>('hrEvent');
export const eventOutcomeQuery = defineQuery<EventOutcome | null, [string]>('eventOutcome');
export const statusQuery = defineQuery<IdentityStatus>('status');

export type Outcome = 'provisioned' | 'verified' | 'failed';

export interface EventOutcome {
  eventId: string;
  type: HrEvent['type'];
  outcome: Outcome;
  targets: { target: string; actions: number; findings: string[]; verified: boolean; error?: string }[];
  error?: string;
}

export interface IdentityStatus {
  employeeId: string;
  queued: number;
  processing: string | null;
  recent: EventOutcome[];
  /** Events whose id had been processed already: not processed again. */
  duplicatesIgnored: number;
}

export interface IdentityWorkflowInput {
  employeeId: string;
  /** Carried across continue-as-new. */
  pending?: HrEvent[];
  recent?: EventOutcome[];
  duplicatesIgnored?: number;
  /**
   * How long the workflow waits for another event before it completes. Short on purpose: a running
   * identity workflow tells a reconcile to keep its hands off that person.
   */
  idleTimeout?: Duration;
}

const RECENT_LIMIT = 50;
const VERIFY_ATTEMPTS = 5;

const { fetchIdentity, transformIdentity } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10, nonRetryableErrorTypes: ['InvalidEventError'] },
});
const { provisionAccount, verifyAccount } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1s', maximumInterval: '1 minute', maximumAttempts: 8 },
});

export async function identityWorkflow(input: IdentityWorkflowInput): Promise<IdentityStatus> {
  const queue: HrEvent[] = [...(input.pending ?? [])];
  const recent: EventOutcome[] = [...(input.recent ?? [])];
  let processing: string | null = null;
  let duplicatesIgnored = input.duplicatesIgnored ?? 0;

  setHandler(hrEventSignal, (event) => {
    queue.push(event);
  });
  setHandler(eventOutcomeQuery, (eventId) => recent.find((r) => r.eventId === eventId) ?? null);
  setHandler(statusQuery, () => ({ employeeId: input.employeeId, queued: queue.length, processing, recent, duplicatesIgnored }));

  for (;;) {
    const hasEvent = await condition(() => queue.length > 0, input.idleTimeout ?? '10 seconds');
    if (!hasEvent) break;
    const event = queue.shift()!;
    const eventId = event.eventId ?? `${event.type}@${workflowInfo().historyLength}`;
    if (recent.some((r) => r.eventId === eventId)) {
      // Its first outcome stands; the eventOutcome query keeps answering with it.
      duplicatesIgnored += 1;
      continue;
    }
    processing = eventId;
    const outcome = await processEvent(input.employeeId, eventId, event);
    recent.push(outcome);
    if (recent.length > RECENT_LIMIT) recent.splice(0, recent.length - RECENT_LIMIT);
    processing = null;
    upsertSearchAttributes([{ key: IdflowOutcome, value: outcome.outcome }]);
    if (workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof identityWorkflow>({ ...input, pending: queue, recent, duplicatesIgnored });
    }
  }
  return { employeeId: input.employeeId, queued: 0, processing: null, recent, duplicatesIgnored };
}

async function processEvent(employeeId: string, eventId: string, event: HrEvent): Promise<EventOutcome> {
  upsertSearchAttributes([{ key: IdflowEventType, value: event.type }]);
  if (event.effectiveAt) {
    const wait = Date.parse(event.effectiveAt) - Date.now();
    if (wait > 0) {
      log.info('waiting for the effective time', { eventId, effectiveAt: event.effectiveAt });
      await sleep(wait);
    }
  }
  try {
    const identity = await fetchIdentity(employeeId);
    if (!identity && event.type !== 'leaver') {
      throw ApplicationFailure.nonRetryable(`employee ${employeeId} was not found in Entra ID`, 'Source.notFound');
    }
    const { decisions } = await transformIdentity({ employeeId, eventType: event.type, identity });
    upsertSearchAttributes([{ key: IdflowTargets, value: decisions.map((d) => d.target) }]);
    const targets = await Promise.all(
      decisions.map(async (decision) => {
        const input = { target: decision.target, employeeId, decision };
        try {
          const result: ProvisionResult = await provisionAccount(input);
          const verified = await verifyUntilConsistent(input);
          return {
            target: decision.target,
            actions: result.applied.length,
            findings: result.plan.findings.map((f) => `${f.kind}: ${f.detail}`),
            verified: verified.verified,
            ...(verified.verified ? {} : { error: `verification found ${verified.differences.length} differences: ${verified.differences.map((d) => `${d.op} (${d.reason})`).join('; ')}` }),
          };
        } catch (err) {
          // One target failing is recorded against it; the others still go ahead.
          return { target: decision.target, actions: 0, findings: [], verified: false, error: errorMessage(err) };
        }
      }),
    );
    const failed = targets.some((t) => t.error || t.findings.length > 0);
    const changed = targets.some((t) => t.actions > 0);
    return { eventId, type: event.type, outcome: failed ? 'failed' : changed ? 'provisioned' : 'verified', targets };
  } catch (err) {
    return { eventId, type: event.type, outcome: 'failed', targets: [], error: errorMessage(err) };
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
