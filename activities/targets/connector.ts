import type { AttributeChange } from '../../domain/plan';
import type { ActualAccount } from '../../domain/types';

/** What every target (AWS IAM, SCIM, ...) implements. Writes are idempotent: a retry after a crash is safe. */
export interface TargetConnector {
  readonly name: string;
  /** The target's own limit on groups per user, checked by the plan before any write. */
  readonly maxGroupsPerUser?: number;
  /** One account by name, owned or not (ownership is reported on it), or null. */
  findAccount(userName: string): Promise<ActualAccount | null>;
  /** Groups idflow may manage that exist in the target. */
  existingGroups(names: readonly string[]): Promise<Set<string>>;
  createAccount(input: CreateAccountInput): Promise<ActualAccount>;
  updateAccount(userName: string, changes: readonly AttributeChange[]): Promise<void>;
  enableAccount(userName: string): Promise<void>;
  /** Revokes access and returns what was removed, for the audit trail and a later rehire. */
  disableAccount(userName: string): Promise<DisableRecord>;
  deleteAccount(userName: string): Promise<DeleteRecord>;
  createGroup(name: string): Promise<void>;
  addMember(userName: string, group: string): Promise<void>;
  removeMember(userName: string, group: string): Promise<void>;
}

export interface CreateAccountInput {
  userName: string;
  externalId: string;
  employeeId: string;
  enabled: boolean;
  attributes: Record<string, string>;
}

export interface DisableRecord {
  removedGroups: string[];
  deactivatedAccessKeys: string[];
  loginProfileDeleted: boolean;
}

/** The calls made to clear a user before deleting it: real AWS refuses DeleteUser otherwise. */
export interface DeleteRecord {
  steps: string[];
}

export class OwnershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OwnershipError';
  }
}
