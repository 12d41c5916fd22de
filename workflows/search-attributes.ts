import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Registered on the dev server at start (devstack) and documented for clusters (README). */
export const IdflowEmployeeId = defineSearchAttributeKey('IdflowEmployeeId', SearchAttributeType.KEYWORD);
export const IdflowEventType = defineSearchAttributeKey('IdflowEventType', SearchAttributeType.KEYWORD);
export const IdflowTargets = defineSearchAttributeKey('IdflowTargets', SearchAttributeType.KEYWORD_LIST);
export const IdflowOutcome = defineSearchAttributeKey('IdflowOutcome', SearchAttributeType.KEYWORD);
export const IdflowAwaitingApproval = defineSearchAttributeKey('IdflowAwaitingApproval', SearchAttributeType.BOOL);

/** A leaver's revoke is decided but some target has not confirmed it yet: `IdflowRevocationPending = true` lists them. */
export const IdflowRevocationPending = defineSearchAttributeKey('IdflowRevocationPending', SearchAttributeType.BOOL);

/** HR said the person left, their accounts are deleted, and Entra ID still lists them: a data problem to fix there. */
export const IdflowLeftButInSource = defineSearchAttributeKey('IdflowLeftButInSource', SearchAttributeType.BOOL);

export const SEARCH_ATTRIBUTES = [IdflowEmployeeId, IdflowEventType, IdflowTargets, IdflowOutcome, IdflowAwaitingApproval, IdflowRevocationPending, IdflowLeftButInSource];
