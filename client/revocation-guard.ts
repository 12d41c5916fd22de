import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { type GuardState, guardStateQuery, type HeldRevocation, REVOCATION_GUARD_WORKFLOW_ID } from '../contracts/revocation-guard';

/**
 * sha256 of exactly what is held (who, on which targets, why), independent of order: what an
 * approver reviews, and what a decision is recorded against.
 */
export function heldSetDigest(held: readonly HeldRevocation[]): string {
  const canonical = [...held]
    .sort((a, b) => (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : 0))
    .map((h) => [h.requestId, h.employeeId, h.type, [...h.targets].sort(), h.reason]);
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}

/** The guard's state, or null when it is not running (nothing counted, nothing held). */
export async function guardState(client: Client): Promise<GuardState | null> {
  try {
    return await client.workflow.getHandle(REVOCATION_GUARD_WORKFLOW_ID).query(guardStateQuery);
  } catch (err) {
    if ((err as Error).name === 'WorkflowNotFoundError' || /not found|already completed/i.test((err as Error).message)) return null;
    throw err;
  }
}

export function describeHeld(h: HeldRevocation): string {
  return `${h.employeeId} (${h.type} ${h.eventId}) on ${h.targets.join(', ')}: ${h.reason}`;
}
