import type { ActualGroup } from '../domain/types';

/**
 * The managed-group workflow's input, result and limits: what activities and workflows both use to
 * start it, by name, so activities never import workflow code.
 */

export const MANAGED_GROUP_WORKFLOW = 'managedGroupWorkflow';

export interface ManagedGroupInput {
  target: string;
  group: string;
}

/** A group to create and the id of the workflow that creates it. */
export interface GroupToCreate {
  group: string;
  workflowId: string;
}

export type ManagedGroupWorkflow = (input: ManagedGroupInput) => Promise<ActualGroup>;

/** A group's run that does not finish in this time has failed; its callers stop waiting for it. */
export const MANAGED_GROUP_TIMEOUT = '10 minutes';
