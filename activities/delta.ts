import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { signalIdentity } from '../client/identity';
import type { SourceEvent } from '../domain/events';
import type { SourceChange, SourceCursor } from '../contracts/source';
import { CURSOR_EXPIRED } from '../sources/source';
import type { Runtime } from './runtime';

export interface DeltaSyncInput {
  /** Where the previous run stopped; null starts "from now". */
  links: SourceCursor | null;
  /** Makes event ids unique per run, so a retried activity never processes a change twice. */
  runKey: string;
}

export interface DeltaSyncResult {
  /** The cursor to go on from (named links in history: Entra ID's is its two delta links). */
  links: SourceCursor;
  pages: number;
  changed: number;
  removed: number;
  /** People handed to their identity workflow. */
  signalled: number;
  /** Changes for users without an employee id, or removed users idflow never provisioned. */
  unmatched: number;
  resyncRequired: boolean;
  /** Why a full reconcile is needed: the delta token expired, or a changed group could not be resolved. */
  resyncReason?: string;
}

/**
 * Pulls Entra ID's changes since the last run and hands each affected person to their identity
 * workflow, which re-reads and re-plans them: the delta only says who, never what to write.
 */
export function deltaActivities(runtime: Runtime) {
  return {
    async syncDelta(input: DeltaSyncInput): Promise<DeltaSyncResult> {
      let delta;
      try {
        delta = await runtime.source.changesSince(runtime.select, input.links);
      } catch (err) {
        if ((err as ApplicationFailure).type !== CURSOR_EXPIRED) throw err;
        // The token is gone: start a fresh cursor now; the caller runs a full reconcile for the gap.
        const fresh = await runtime.source.changesSince(runtime.select, null);
        return { links: fresh.cursor, pages: fresh.pages, changed: 0, removed: 0, signalled: 0, unmatched: 0, resyncRequired: true, resyncReason: `the change cursor expired: ${(err as Error).message}` };
      }
      const removed = [...delta.changes.values()].filter((c) => c.removed);
      const owners = removed.length > 0 ? await employeeIdsFromTargets(runtime) : new Map<string, string>();
      const ctx = Context.current();
      let signalled = 0;
      let unmatched = 0;
      for (const change of delta.changes.values()) {
        const employeeId = change.employeeId ?? owners.get(change.id) ?? (change.removed ? null : await runtime.source.employeeIdOf(change.id));
        if (!employeeId) {
          unmatched += 1;
          continue;
        }
        await signalIdentity(ctx.client, ctx.info.taskQueue, toEvent(change, employeeId, input.runKey));
        signalled += 1;
        if (signalled % 100 === 0) ctx.heartbeat({ signalled });
      }
      // A nested group that changed but can no longer be read hides whose access changed: resync all.
      const unresolved = delta.unresolvedGroups.length > 0;
      return {
        links: delta.cursor,
        pages: delta.pages,
        changed: delta.changes.size - removed.length,
        removed: removed.length,
        signalled,
        unmatched,
        resyncRequired: unresolved,
        ...(unresolved ? { resyncReason: `${delta.unresolvedGroups.length} changed groups could not be resolved to their members` } : {}),
      };
    },

    /** The cursor the last completed delta sync left, read from its result: Temporal is the store. */
    async lastDeltaLinks(): Promise<SourceCursor | null> {
      const client = Context.current().client;
      for await (const wf of client.workflow.list({ query: `WorkflowType = 'deltaSyncWorkflow' AND ExecutionStatus = 'Completed'` })) {
        const result = (await client.workflow.getHandle(wf.workflowId, wf.runId).result()) as { links?: SourceCursor } | undefined;
        if (result?.links) return result.links;
      }
      return null;
    },
  };
}

function toEvent(change: SourceChange, employeeId: string, runKey: string): SourceEvent {
  const eventId = `delta:${runKey}:${change.id}`;
  return change.removed ? { type: 'source-removed', employeeId, eventId, sourceId: change.id, hard: change.removed === 'deleted' } : { type: 'source-changed', employeeId, eventId, sourceId: change.id };
}

/** Entra id -> employee id for accounts idflow provisioned: the only record left of a deleted user. */
async function employeeIdsFromTargets(runtime: Runtime): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  for (const connector of runtime.connectors.values()) {
    const state = await connector.readState();
    for (const a of state.accounts) if (a.externalId && a.employeeId) map.set(a.externalId, a.employeeId);
  }
  return map;
}
