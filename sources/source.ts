import type { SourceChange, SourceCursor } from '../contracts/source';
import type { SourceCatalogue } from '../domain/mapping';
import type { SourceIdentity } from '../domain/types';

/**
 * A source of truth for people: Entra ID today (sources/entra/), later Active Directory and Workday.
 * Every method is a read; a source is never written. The contract suite
 * (test/contract/sources.contract.test.ts) holds every kind to this interface on its real or
 * simulated server. A person is their `id`, the source's stable id, never a name.
 */
export interface IdentitySource {
  /** How reasons and errors name the source ("Entra ID"). */
  readonly label: string;
  /** The attributes a mapping may read, and those always read. */
  readonly catalogue: SourceCatalogue;
  /** One person by their stable id, with their referenced groups flattened; null when the source no longer has them. */
  person(sourceId: string, select: readonly string[]): Promise<SourceIdentity | null>;
  /** The one person with this employee id, or null; several are a data error (thrown), never a guess. */
  personByEmployeeId(employeeId: string, select: readonly string[]): Promise<SourceIdentity | null>;
  /** Every stable id holding this employee id, in the source's spelling of it: a leaver revokes them all. */
  sourceIdsByEmployeeId(employeeId: string): Promise<{ id: string; employeeId: string }[]>;
  /** The employee id of a person the source still has, or null. */
  employeeIdOf(sourceId: string): Promise<string | null>;
  /**
   * Who changed since `cursor` (null: start from now), and the cursor to go on from. A cursor the
   * source no longer honours fails with type CURSOR_EXPIRED: the caller starts again from now and
   * runs a full reconcile for the gap.
   */
  changesSince(select: readonly string[], cursor: SourceCursor | null): Promise<SourceChanges>;
  /** Every person, paged; resumable from the last checkpoint a previous attempt was given. */
  listAll(select: readonly string[], options?: ListingOptions): Promise<SourceListing>;
  /** One cheap authenticated read: proves the credentials, the permissions and the network path. */
  ping(): Promise<void>;
}

export const CURSOR_EXPIRED = 'Source.cursorExpired';

export interface SourceChanges {
  changes: Map<string, SourceChange>;
  cursor: SourceCursor;
  /** Requests this read made. */
  pages: number;
  /** Changed groups that could not be resolved to their members: whose access changed is unknown, so resync. */
  unresolvedGroups: string[];
}

/** Progress a listing reports after every page; `checkpoint` is the source's own, opaque to everyone else. */
export interface ListingProgress {
  pages: number;
  identities: number;
  checkpoint: unknown;
}

export interface ListingOptions {
  /** A checkpoint a previous attempt reported; anything unusable is ignored and the listing starts over. */
  resume?: unknown;
  /** Called after every page; without it nobody can resume, so nothing is kept for that. */
  progress?: (progress: ListingProgress) => void;
  /** Where a resumable listing keeps its pages meanwhile (encrypted); default under $TMPDIR. */
  spillDir?: string;
}

export interface SourceListing {
  identities: SourceIdentity[];
  /** Requests of the whole listing, including those replayed from a previous attempt. */
  pages: number;
  /** Requests this call made. */
  pagesRead: number;
  /** What came from a previous attempt, or null. */
  resumed: { pages: number; identities: number } | null;
  /** Why a checkpoint that was given could not be used. */
  resumeRejected?: string;
}
