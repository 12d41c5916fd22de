import type { ActualAccount } from './types';

/**
 * Which account is the person's: the one and only rule, for the event path (live reads) and the
 * reconcile (a snapshot) alike. The person is their source id, so the account marked with it is
 * theirs whatever its name; a name finds an account only when no marker does, and then only to be
 * reported (another identity's, or nobody's) or adopted, never used as theirs.
 */
export interface MatchCandidates {
  /** The account marked for this identity (IAM `idflow:external-id`, SCIM `externalId`), if any. */
  byMarker: ActualAccount | null;
  /** The account holding the desired name, case-insensitively, if any. Absent when no account is desired. */
  byName: ActualAccount | null;
}

export interface Match {
  /** The person's account, or the account in the way of creating it. */
  actual: ActualAccount | null;
  /** An account other than the person's that holds the desired name: a rename onto it is refused. */
  nameHolder: ActualAccount | null;
}

export type MatchingRule = 'externalId' | 'userName';

export function matchAccount(externalId: string | null, found: MatchCandidates, matching: readonly MatchingRule[]): Match {
  const { byName } = found;
  // The account under the desired name may carry this person's marker itself (a look-up by name is cheaper).
  const byMarker = found.byMarker ?? (isMarkedFor(byName, externalId) ? byName : null);
  if (byMarker) return { actual: byMarker, nameHolder: byName && byName.id !== byMarker.id ? byName : null };
  return { actual: matching.includes('userName') ? byName : null, nameHolder: null };
}

/** Whether the account is the one marked for this identity. */
export function isMarkedFor(account: ActualAccount | null, externalId: string | null): boolean {
  return account !== null && account.owned && externalId !== null && account.externalId === externalId;
}
