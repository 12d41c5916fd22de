import { ParentClosePolicy, proxyActivities, startChild, upsertMemo, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { IdflowActivities } from '../activities';
import type { DeltaSyncResult } from '../activities/delta';
import type { SourceCursor } from '../contracts/source';
import { reconcileWorkflow } from './reconcile';
import { IdflowOutcome } from './search-attributes';

/**
 * One delta sync, started every few minutes by a Temporal Schedule: the source's changes since the
 * last run go to the affected people's identity workflows. The cursor is this run's result, which
 * the next run reads. An expired cursor starts a full reconcile.
 */
export interface DeltaSyncWorkflowInput {
  /** Start from this cursor instead of the last run's. */
  links?: SourceCursor;
}

const { syncDelta, lastDeltaLinks } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '20 minutes',
  heartbeatTimeout: '2 minutes',
  // No source's failure types here: a source marks what retrying cannot mend (a refused credential) non-retryable itself.
  retry: { initialInterval: '5s', maximumInterval: '2 minutes', maximumAttempts: 5 },
});

export async function deltaSyncWorkflow(input: DeltaSyncWorkflowInput = {}): Promise<DeltaSyncResult & { reconcileWorkflowId?: string }> {
  const links = input.links ?? (await lastDeltaLinks());
  const result = await syncDelta({ links, runKey: workflowInfo().runId });
  let reconcileWorkflowId: string | undefined;
  if (result.resyncRequired) {
    reconcileWorkflowId = `reconcile-after-resync-${workflowInfo().workflowId}`;
    await startChild(reconcileWorkflow, { workflowId: reconcileWorkflowId, args: [{}], parentClosePolicy: ParentClosePolicy.ABANDON });
  }
  const summary = result.resyncRequired
    ? `${result.resyncReason ?? 'resync required'}: full reconcile started`
    : links === null
      ? 'first run: cursor set to now'
      : `${result.changed} changed, ${result.removed} removed, ${result.signalled} handed to identity workflows`;
  upsertMemo({ summary });
  upsertSearchAttributes([{ key: IdflowOutcome, value: result.resyncRequired ? 'resync' : 'synced' }]);
  return { ...result, ...(reconcileWorkflowId ? { reconcileWorkflowId } : {}) };
}
