import type { Client } from '@temporalio/client';
import { percentile } from './report';

/**
 * Where an HR event's latency goes, from the identity workflows' histories: the server's own
 * timestamps, so no polling granularity. The chain is lifecyclePolicy -> fetchIdentity ->
 * transformIdentity -> per target (in parallel) provisionAccount -> verifyAccount -> outcome recorded.
 */

interface Timestamp {
  seconds?: { toString(): string } | number | null;
  nanos?: number | null;
}

interface HistoryEvent {
  eventId?: { toString(): string } | number | null;
  eventTime?: Timestamp | null;
  workflowExecutionStartedEventAttributes?: unknown;
  workflowExecutionSignaledEventAttributes?: unknown;
  activityTaskScheduledEventAttributes?: { activityType?: { name?: string | null } | null } | null;
  activityTaskStartedEventAttributes?: { scheduledEventId?: { toString(): string } | number | null } | null;
  activityTaskCompletedEventAttributes?: { scheduledEventId?: { toString(): string } | number | null } | null;
  upsertWorkflowSearchAttributesEventAttributes?: { searchAttributes?: { indexedFields?: Record<string, unknown> | null } | null } | null;
}

export interface EventLatencyBreakdown {
  /** Workflows analysed. */
  workflows: number;
  /** Sent (client clock) -> outcome recorded (server clock, same machine), ms. */
  sentToRecorded: { p50: number; p99: number; max: number };
  /** Per activity type: mean queue wait (scheduled -> started) and mean run time (started -> completed), ms. */
  activities: Record<string, { count: number; scheduleToStartMs: number; startToCloseMs: number }>;
  /** Mean over events: time on the critical path spent running activities vs the rest (Temporal round trips, queueing). */
  meanCriticalPath: { totalMs: number; inActivitiesMs: number; otherMs: number };
}

const num = (v: { toString(): string } | number | null | undefined) => (v === null || v === undefined ? NaN : typeof v === 'number' ? v : Number(v.toString()));
const ms = (t: Timestamp | null | undefined) => (t ? num(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN);

export async function eventLatencyBreakdown(client: Client, sent: { workflowId: string; sentAtEpochMs: number }[]): Promise<EventLatencyBreakdown | null> {
  if (sent.length === 0) return null;
  const totals: number[] = [];
  const acts: Record<string, { count: number; s2s: number; s2c: number }> = {};
  let sumTotal = 0;
  let sumActs = 0;
  let analysed = 0;
  const queue = [...sent];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const history = await client.workflow.getHandle(item.workflowId).fetchHistory().catch(() => null);
      const events = (history?.events ?? []) as HistoryEvent[];
      const scheduled = new Map<number, { type: string; at: number; started?: number; completed?: number }>();
      let recordedAt = NaN;
      for (const e of events) {
        const at = ms(e.eventTime);
        if (e.activityTaskScheduledEventAttributes) scheduled.set(num(e.eventId), { type: e.activityTaskScheduledEventAttributes.activityType?.name ?? '?', at });
        else if (e.activityTaskStartedEventAttributes) {
          const s = scheduled.get(num(e.activityTaskStartedEventAttributes.scheduledEventId));
          if (s) s.started = at;
        } else if (e.activityTaskCompletedEventAttributes) {
          const s = scheduled.get(num(e.activityTaskCompletedEventAttributes.scheduledEventId));
          if (s) s.completed = at;
        } else if (Number.isNaN(recordedAt) && e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.IdflowOutcome !== undefined) {
          recordedAt = at;
        }
      }
      if (Number.isNaN(recordedAt)) continue;
      analysed += 1;
      const total = recordedAt - item.sentAtEpochMs;
      totals.push(total);
      const runs = [...scheduled.values()].filter((s) => s.started !== undefined && s.completed !== undefined && s.completed <= recordedAt);
      for (const s of runs) {
        const a = (acts[s.type] ??= { count: 0, s2s: 0, s2c: 0 });
        a.count += 1;
        a.s2s += s.started! - s.at;
        a.s2c += s.completed! - s.started!;
      }
      // Critical path: the sequential activities, then the per-target chain (provision, then its verifies) that ended last.
      const runOf = (x: { started?: number; completed?: number }) => x.completed! - x.started!;
      const sequential = runs.filter((s) => ['lifecyclePolicy', 'fetchIdentity', 'transformIdentity'].includes(s.type)).reduce((n, s) => n + runOf(s), 0);
      const provisions = runs.filter((s) => s.type === 'provisionAccount');
      const chains = new Map(provisions.map((p) => [p, { end: p.completed!, activityMs: runOf(p) }]));
      for (const v of runs.filter((s) => s.type === 'verifyAccount')) {
        // A verify belongs to the provision that completed last before it was scheduled.
        const p = provisions.filter((x) => x.completed! <= v.at).sort((a, b) => b.completed! - a.completed!)[0];
        const c = p ? chains.get(p) : undefined;
        if (!c) continue;
        c.end = Math.max(c.end, v.completed!);
        c.activityMs += runOf(v);
      }
      const last = [...chains.values()].sort((a, b) => b.end - a.end)[0];
      const parallel = last?.activityMs ?? 0;
      sumTotal += total;
      sumActs += sequential + parallel;
    }
  }));
  const r = (p: number) => Math.round(percentile(totals, p));
  return {
    workflows: analysed,
    sentToRecorded: { p50: r(50), p99: r(99), max: r(100) },
    activities: Object.fromEntries(Object.entries(acts).map(([k, a]) => [k, { count: a.count, scheduleToStartMs: Math.round(a.s2s / a.count), startToCloseMs: Math.round(a.s2c / a.count) }])),
    meanCriticalPath: analysed ? { totalMs: Math.round(sumTotal / analysed), inActivitiesMs: Math.round(sumActs / analysed), otherMs: Math.round((sumTotal - sumActs) / analysed) } : { totalMs: 0, inActivitiesMs: 0, otherMs: 0 },
  };
}
