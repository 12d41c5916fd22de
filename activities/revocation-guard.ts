import { Context } from '@temporalio/activity';
import { WorkflowIdConflictPolicy, WithStartWorkflowOperation } from '@temporalio/client';
import { REVOCATION_GUARD_WORKFLOW, REVOCATION_GUARD_WORKFLOW_ID, type RevocationGuardWorkflow, type RevocationAnswer, type RevocationRequest, requestRevocationUpdate, type TargetLimit, withdrawRevocationUpdate } from '../contracts/revocation-guard';
import type { Runtime } from './runtime';

/** Used when a target's guard names only maxPercent: a share of owned accounts needs a full read, so the window counts people. */
const DEFAULT_WINDOW_MAX = 10;

export type RevocationPermitInput = Omit<RevocationRequest, 'limits' | 'fourEyes'>;

/** The identity workflows' side of the mass-revocation guard: ask it, starting it if need be. */
export function revocationGuardActivities(runtime: Runtime) {
  const limitsFor = (targets: string[]): Record<string, TargetLimit> => {
    const limits: Record<string, TargetLimit> = {};
    for (const name of targets) {
      const guard = runtime.loaded.config.targets[name]?.deletionGuard;
      limits[name] = { maxCount: guard?.maxCount ?? DEFAULT_WINDOW_MAX, window: guard?.window ?? '1 hour' };
    }
    return limits;
  };

  return {
    /** Granted at once below the threshold; otherwise held, and the decision arrives as a signal. */
    async requestRevocationPermit(input: RevocationPermitInput): Promise<RevocationAnswer> {
      const { client, info } = Context.current();
      const startWorkflowOperation = new WithStartWorkflowOperation<RevocationGuardWorkflow>(REVOCATION_GUARD_WORKFLOW, {
        workflowId: REVOCATION_GUARD_WORKFLOW_ID,
        taskQueue: info.taskQueue,
        args: [{}],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        staticSummary: 'mass-revocation guard',
      });
      return client.workflow.executeUpdateWithStart(requestRevocationUpdate, { args: [{ ...input, limits: limitsFor(input.targets), fourEyes: runtime.loaded.config.approvals?.fourEyes ?? true }], startWorkflowOperation });
    },

    async withdrawRevocationRequest(requestId: string): Promise<boolean> {
      const { client } = Context.current();
      return client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID).executeUpdate(withdrawRevocationUpdate, { args: [requestId] });
    },
  };
}
