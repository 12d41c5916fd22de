import type { AttributeChange } from '../domain/plan';
import type { AccountRef, ActualAccount, ActualGroup } from '../domain/types';

/**
 * What every target (AWS IAM, SCIM, ...) implements. docs/targets.md describes the contract; the
 * suite in test/contract/targets.contract.test.ts checks it against every implementation.
 *
 * Rules every implementation keeps:
 * - Writes are idempotent: a retry after a crash (or a stale plan applied twice) is safe.
 * - Every write proves, at the point of change, that the account (and group) is idflow's and that
 *   the account is marked for the identity the write is for (AccountRef.externalId); an account
 *   idflow does not own fails with a non-retryable ApplicationFailure of type `Target.notOwned`,
 *   another identity's with `Target.conflict`, and nothing is written.
 * - A person has one account: a changed name is renameAccount, in place, never a second account.
 * - Errors are Temporal ApplicationFailures: non-retryable when a retry cannot help (4xx, quota),
 *   retryable for throttling, 5xx and network trouble.
 * - Reads are paged; readState costs O(pages), never O(accounts).
 */
export interface TargetConnector {
  readonly name: string;
  /** The target's own limit on groups per user, checked by the plan before any write. */
  readonly maxGroupsPerUser?: number;
  /** One account by name, owned or not (ownership is reported on it), or null. */
  findAccount(userName: string): Promise<ActualAccount | null>;
  /**
   * The account idflow made for this source identity, whatever its name: how a person is found after
   * a rename, a leaver or their removal from the source. O(1) calls where the target can search by
   * the marker (SCIM); IAM, which cannot, answers from an index it refreshes on a miss.
   */
  findAccountByExternalId(externalId: string): Promise<ActualAccount | null>;
  /**
   * Accounts carrying this employee id as idflow recorded it at create (IAM: the employee-id tag;
   * SCIM: the enterprise employeeNumber, where the mapping sets it), owned or not: how a leaver finds
   * the person's accounts when the source no longer answers for them. Exact match.
   */
  findAccountsByEmployeeId(employeeId: string): Promise<ActualAccount[]>;
  /** Which of these group names exist in the target as groups idflow owns. */
  existingGroups(names: readonly string[]): Promise<Set<string>>;
  /** Everything idflow owns in the target, with memberships, in O(pages) calls. */
  readState(): Promise<TargetState>;
  createAccount(input: CreateAccountInput): Promise<ActualAccount>;
  /**
   * Gives the account a new name in place: its id, groups, credentials and marker stay. A name held
   * by any other account (case-insensitively) is refused with `Target.conflict`. Idempotent: an
   * account that already has the new name is left as it is.
   */
  renameAccount(account: AccountRef, newUserName: string): Promise<void>;
  /** Sends only the changed attributes; `to: null` removes one. */
  updateAccount(account: AccountRef, changes: readonly AttributeChange[]): Promise<void>;
  enableAccount(account: AccountRef): Promise<void>;
  /** Revokes access and returns what was removed, for the audit trail and a later rehire. */
  disableAccount(account: AccountRef): Promise<DisableRecord>;
  deleteAccount(account: AccountRef): Promise<DeleteRecord>;
  /** Returns the group, idflow's (an existing one of another owner is refused, as for accounts). */
  createGroup(name: string): Promise<ActualGroup>;
  addMember(userName: string, group: string): Promise<void>;
  removeMember(userName: string, group: string): Promise<void>;
  /**
   * Batched forms of addMember/removeMember for one group (SCIM: one PATCH per batch). With `known`,
   * members and the group found there are not read again (see KnownState).
   */
  addMembers(group: string, userNames: readonly string[], known?: KnownState): Promise<void>;
  removeMembers(group: string, userNames: readonly string[], known?: KnownState): Promise<void>;
}

/**
 * What the caller read (readState) or wrote (createAccount's answers) in this same run. A reconcile
 * passes it to the batched membership writes, so a cold reconcile does not read every member again
 * (at 10,000 identities, over half of all IAM calls). Ownership was proven by that read, minutes ago
 * at most; anything not in it is read and checked at the point of change as usual.
 */
export interface KnownState {
  accounts: ReadonlyMap<string, ActualAccount>;
  /** Groups by name, as readState returned them. */
  groups: ReadonlyMap<string, ActualGroup>;
}

/** A target's actual state as far as idflow is concerned. */
export interface TargetState {
  /** Every account idflow owns, with all its group memberships. */
  accounts: ActualAccount[];
  /** Groups idflow owns, plus managed (mapped) groups that exist but that it does not own. */
  groups: ActualGroup[];
  /** Accounts idflow does not own in its part of the target (IAM: under its path; SCIM: all). */
  unownedCount: number;
  /** Calls the read took: evidence for the O(pages) promise. */
  calls: number;
}

export interface CreateAccountInput {
  /**
   * The caller read every account the target holds in this run and found none for this identity,
   * so the look-ups before the create can be skipped; a conflict answer still covers one created
   * meanwhile (the target's userName uniqueness decides).
   */
  absentInRead?: boolean;
  /**
   * When an account with this name exists that nobody has marked as theirs (no idflow marker, no
   * externalId), take it over instead of failing: config `unmatched: adopt`.
   */
  adopt?: boolean;
  userName: string;
  externalId: string;
  employeeId: string;
  enabled: boolean;
  attributes: Record<string, string>;
}

export interface DisableRecord {
  removedGroups: string[];
  deactivatedAccessKeys: string[];
  /** Other sign-in credentials set Inactive (IAM: SSH public keys, signing certificates, service-specific credentials), by kind. */
  deactivatedCredentials?: Record<string, string[]>;
  loginProfileDeleted: boolean;
  /** What still grants access, left because idflow does not own it (IAM: policies attached to the user directly). */
  residual?: string[];
  /** Anything worth knowing that did not fit the fields above (e.g. what could not be recorded). */
  notes?: string[];
}

/** The calls made to clear a user before deleting it: real AWS refuses DeleteUser otherwise. */
export interface DeleteRecord {
  steps: string[];
}

/** Failure types shared by every target. */
export const TARGET_FAILURE = {
  notOwned: 'Target.notOwned',
  conflict: 'Target.conflict',
  invalidInput: 'Target.invalidInput',
  notFound: 'Target.notFound',
  tooManyGroups: 'Target.tooManyGroups',
  missingGroup: 'Target.missingGroup',
  config: 'Target.config',
} as const;

export class OwnershipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OwnershipError';
  }
}
