import { type Client, type WorkflowHandle, WorkflowIdConflictPolicy } from '@temporalio/client';
import { type IdentityEvent, identityWorkflowId } from '../domain/events';
import { type EventOutcome, eventOutcomeQuery, hrEventSignal, IDENTITY_WORKFLOW, type IdentityWorkflow, waitForOutcomeUpdate } from '../contracts/identity';
import { IdflowEmployeeId } from '../workflows/search-attributes';

/** Hands an event to the person's workflow, starting it if it is not running: one writer per person. */
export async function signalIdentity(client: Client, taskQueue: string, event: IdentityEvent): Promise<string> {
  const workflowId = identityWorkflowId(event.employeeId);
  await client.workflow.signalWithStart<IdentityWorkflow, [IdentityEvent]>(IDENTITY_WORKFLOW, {
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

/**
 * An event's outcome once the person's workflow has recorded it, or null at the deadline. Asks with
 * an Update that returns when the outcome is recorded; where that cannot answer (a run that finished
 * or continued as new meanwhile, or one started by a worker without the handler) it polls the
 * eventOutcome query, which also reads closed runs. A payload this process cannot decrypt is thrown.
 */
export async function awaitEventOutcome(handle: WorkflowHandle, eventId: string, deadline: number, opts: { pollMs?: number; onQuery?: () => void } = {}): Promise<EventOutcome | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), Math.max(0, deadline - Date.now()))));
  try {
    const outcome = await Promise.race([handle.executeUpdate(waitForOutcomeUpdate, { args: [eventId] }), timeout]);
    if (outcome) return outcome;
  } catch (err) {
    if (isUnreadable(err as Error)) throw err;
  } finally {
    clearTimeout(timer);
  }
  while (Date.now() < deadline) {
    opts.onQuery?.();
    const outcome = await handle.query(eventOutcomeQuery, eventId).catch((err: Error) => {
      // Not there yet (the workflow is starting) is worth another try; a payload this process cannot read is not.
      if (isUnreadable(err)) throw err;
      return null;
    });
    if (outcome) return outcome;
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 300));
  }
  return null;
}

function isUnreadable(err: Error): boolean {
  return /Unknown encoding|decrypt|encryption key/i.test(err.message);
}
