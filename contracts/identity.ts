import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { Duration } from '@temporalio/common';
import type { IdentityEvent } from '../domain/events';
import type { LifecyclePolicy } from '../domain/config';

/**
 * The identity workflow's messages, inputs and results: the history format of every person's
 * workflow. Change only compatibly (new optional fields); the replay test holds older runs to it.
 */

/** The workflow's type, for starting it by name (clients and activities never import workflow code). */
export const IDENTITY_WORKFLOW = 'identityWorkflow';
export type IdentityWorkflow = (input: IdentityWorkflowInput) => Promise<IdentityStatus>;

/** What the lifecyclePolicy activity answers: the config's lifecycle, and how the workflow's reasons name the source. */
export type IdentityPolicy = LifecyclePolicy & { sourceLabel?: string };

/** The source's name in reasons. Histories recorded before the policy carried it had only Entra ID. */
export function sourceLabel(policy: IdentityPolicy): string {
  return policy.sourceLabel ?? 'Entra ID';
}

export const hrEventSignal = defineSignal<[IdentityEvent]>('hrEvent');
export const eventOutcomeQuery = defineQuery<EventOutcome | null, [string]>('eventOutcome');
export const statusQuery = defineQuery<IdentityStatus>('status');
/**
 * Returns an event's outcome once it is recorded (at once if it already is): `idflow event --wait`
 * without polling. Refused for an event this workflow has not received.
 */
export const waitForOutcomeUpdate = defineUpdate<EventOutcome, [string]>('waitForOutcome');

/**
 * `pending`: a leaver's revoke is decided and recorded (retention runs), but some target has not
 * confirmed it yet; the workflow keeps retrying that target until it does.
 * `rejected`: the mass-revocation guard held what the event would take away, and a human rejected it;
 * none of it was applied.
 */
export type Outcome = 'provisioned' | 'verified' | 'failed' | 'ignored' | 'pending' | 'rejected';

export interface TargetOutcome {
  target: string;
  actions: number;
  findings: string[];
  verified: boolean;
  error?: string;
  /** What still grants access after a revoke (e.g. an attached policy a target cannot remove). */
  residual?: string[];
}

export interface EventOutcome {
  eventId: string;
  type: IdentityEvent['type'] | 'retention-ended';
  outcome: Outcome;
  targets: TargetOutcome[];
  error?: string;
}

/** A target on which a decided revoke (disable, or the purge's delete) has not been confirmed yet. */
export interface PendingRevocation {
  target: string;
  policy: 'disable' | 'delete';
  /** The event that decided it. */
  eventId: string;
  attempts: number;
  since: string;
  lastError?: string;
}

export interface IdentityStatus {
  employeeId: string;
  queued: number;
  processing: string | null;
  /** What the workflow is waiting for, if anything. */
  waiting: string | null;
  recent: EventOutcome[];
  /** Events whose id had been processed already: not processed again. */
  duplicatesIgnored: number;
  /** Future-dated events, waiting for their effective time without holding up the others. */
  scheduled?: { eventId: string; type: IdentityEvent['type']; effectiveAt: string }[];
  /** Targets still to confirm a decided revoke. */
  revocationPending?: PendingRevocation[];
  /** When a leaver's retention ends and their accounts are deleted, unless they come back. */
  retentionUntil?: string;
  /** HR's leaver whose accounts are deleted while Entra ID still lists them: kept from being re-created since. */
  leftSince?: string;
}

export interface IdentityWorkflowInput {
  employeeId: string;
  /** Carried across continue-as-new. */
  pending?: IdentityEvent[];
  recent?: EventOutcome[];
  duplicatesIgnored?: number;
  /** A leaver's retention still running when the workflow continued as new. */
  retentionUntil?: string;
  /** Whether that retention was started by the source (removed from Entra ID) rather than HR. */
  retentionBySource?: boolean;
  /** The person's Entra object id as last seen: finds their accounts once Entra ID no longer has them. */
  sourceId?: string;
  /** Every Entra object id seen for this employee id: a leaver revokes all of them. */
  sourceIds?: string[];
  scheduled?: IdentityEvent[];
  revocationPending?: PendingRevocation[];
  /** Carried across continue-as-new: see IdentityStatus.leftSince. */
  leftSince?: string;
  /**
   * How long the workflow waits for another event before it completes. Short on purpose: a running
   * identity workflow tells a reconcile to keep its hands off that person.
   */
  idleTimeout?: Duration;
}
