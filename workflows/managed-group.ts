import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ApplicationFailure, executeChild, ParentClosePolicy, proxyActivities, sleep } from '@temporalio/workflow';
import type { IdflowActivities } from '../activities';
import { type GroupToCreate, MANAGED_GROUP_TIMEOUT, type ManagedGroupInput } from '../contracts/managed-group';
import type { ActualGroup } from '../domain/types';

/**
 * The one place a managed group is created. Its workflow id is unique per target and group
 * (activities/managed-group-id.ts), and Temporal runs at most one execution per id, so concurrent joiners (on any number of workers)
 * and reconciles never send two creates for one group: SCIM would keep both, as displayName is not
 * unique there. Each run looks before it creates, so running it again is harmless.
 */

export * from '../contracts/managed-group';

const { ensureGroup } = proxyActivities<IdflowActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 10 },
});

/** Returns the group (with the target's id for it), so a reconcile can use it without reading it again. */
export async function managedGroupWorkflow(input: ManagedGroupInput): Promise<ActualGroup> {
  return ensureGroup(input);
}

/** From a workflow: every group exists once this returns, each created by its own managed-group run. */
export async function ensureManagedGroups(target: string, groups: readonly GroupToCreate[]): Promise<ActualGroup[]> {
  return Promise.all(groups.map(({ group, workflowId }) => ensureManagedGroup(target, group, workflowId)));
}

const START_ATTEMPTS = 12;

async function ensureManagedGroup(target: string, group: string, workflowId: string): Promise<ActualGroup> {
  let delayMs = 1_000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await executeChild(managedGroupWorkflow, {
        workflowId,
        args: [{ target, group }],
        workflowExecutionTimeout: MANAGED_GROUP_TIMEOUT,
        // A create under way finishes even if this workflow is terminated meanwhile.
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    } catch (err) {
      // Another writer's run is creating it; a run started after that one finds the group and stops.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      if (attempt >= START_ATTEMPTS) {
        throw ApplicationFailure.retryable(`group ${group} in ${target}: its managed-group workflow ${workflowId} stayed busy through ${attempt} attempts to start it`, 'ManagedGroup.busy');
      }
      await sleep(delayMs);
      delayMs = Math.min(delayMs * 2, 30_000);
    }
  }
}
