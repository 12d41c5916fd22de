import { type Client, WorkflowIdConflictPolicy } from '@temporalio/client';
import { type IdentityEvent, identityWorkflowId } from '../domain/events';
import { hrEventSignal, identityWorkflow } from '../workflows/identity';
import { IdflowEmployeeId } from '../workflows/search-attributes';

/** Hands an event to the person's workflow, starting it if it is not running: one writer per person. */
export async function signalIdentity(client: Client, taskQueue: string, event: IdentityEvent): Promise<string> {
  const workflowId = identityWorkflowId(event.employeeId);
  await client.workflow.signalWithStart(identityWorkflow, {
    workflowId,
    taskQueue,
    args: [{ employeeId: event.employeeId }],
    signal: hrEventSignal,
    signalArgs: [event],
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    typedSearchAttributes: [{ key: IdflowEmployeeId, value: event.employeeId }],
    staticSummary: `${event.type} ${event.employeeId}`,
  });
  return workflowId;
}
