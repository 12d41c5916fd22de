import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/**
 * The mass-revocation guard's messages: the history format of the one `revocation-guard` workflow
 * and of the identity workflows that ask it. Change only compatibly (new optional fields).
 *
 * Every identity workflow asks before it disables, deletes or removes a membership. The guard
 * counts the people losing access per target in a sliding window (the target's
 * `deletionGuard.maxCount` within `deletionGuard.window`). Past the threshold it holds the
 * request, and every one after it, until a human approves or rejects exactly the held set.
 */

export const REVOCATION_GUARD_WORKFLOW_ID = 'idflow-revocation-guard';
/** Its workflow type, for starting it by name (activities never import workflow code). */
export const REVOCATION_GUARD_WORKFLOW = 'revocationGuardWorkflow';
export type RevocationGuardWorkflow = (input?: { state?: GuardState; approvalTimeout?: string }) => Promise<GuardState>;

export interface TargetLimit {
  /** People losing access on this target within `window` before the guard holds. */
  maxCount: number;
  window: string;
}

export interface RevocationRequest {
  /** `<identity workflow id>/<event id>`: a retried request is the same request. */
  requestId: string;
  workflowId: string;
  employeeId: string;
  eventId: string;
  /** The event that wants the change: leaver, source-removed, source-changed, mover... */
  type: string;
  reason: string;
  /** Targets on which the person would lose access (an account disabled or deleted, or a membership removed). */
  targets: string[];
  /** The worker's config for each of those targets, at the time of asking. */
  limits: Record<string, TargetLimit>;
  /** Who sent the event, when a person did (an HR event through the CLI); none for Entra ID's changes. */
  requestedBy?: string;
  /** The worker's approvals.fourEyes: the sender cannot approve the hold. */
  fourEyes?: boolean;
}

export type RevocationAnswer = { granted: true } | { granted: false; reason: string; heldCount: number };

export interface HeldRevocation extends RevocationRequest {
  heldAt: string;
  /** Why this one was held: the threshold it crossed, or that the guard was already holding. */
  heldBecause: string;
}

export interface RevocationDecision {
  requestId: string;
  approved: boolean;
  by: string;
  note?: string;
  /** sha256 of the held set the decision was made on (see heldSetDigest). */
  digest: string;
}

export interface GuardDecisionArgs {
  approved: boolean;
  by: string;
  note?: string;
  /** The digest the approver saw: the decision applies only to exactly that held set. */
  digest: string;
  /** The held requests the approver saw; compared with the held set, so a stale view is refused. */
  requestIds: string[];
}

export interface GuardState {
  /** People granted a revoke, per target, still inside their window. */
  window: { at: string; target: string; employeeId: string; requestId: string; until: string }[];
  held: HeldRevocation[];
  decisions: (Omit<RevocationDecision, 'requestId'> & { at: string; requestIds: string[] })[];
}

export const requestRevocationUpdate = defineUpdate<RevocationAnswer, [RevocationRequest]>('requestRevocation');
/** An identity workflow no longer needs a held request (a leaver came after a held mover). */
export const withdrawRevocationUpdate = defineUpdate<boolean, [string]>('withdrawRevocation');
export const decideRevocationsUpdate = defineUpdate<{ decided: number; approved: boolean }, [GuardDecisionArgs]>('decideRevocations');
export const guardStateQuery = defineQuery<GuardState>('guardState');

/** Sent by the guard to an identity workflow whose request it held. */
export const revocationDecisionSignal = defineSignal<[RevocationDecision]>('revocationDecision');
