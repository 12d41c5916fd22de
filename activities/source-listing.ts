import { Context } from '@temporalio/activity';
import type { IdentitySource, SourceListing } from '../sources/source';

/** What a listing activity heartbeats after every page: enough to resume, no directory data. */
export interface ListingHeartbeat {
  phase: 'reading source';
  pages: number;
  identities: number;
  /** The source's own checkpoint. */
  listing: unknown;
}

/**
 * A whole-source listing inside an activity: resumes from `heartbeatDetails.listing` and heartbeats
 * after every page. Outside an activity (idflow plan) it neither resumes nor heartbeats. Pass
 * `resume: false` for a second listing in the same attempt (reconcile's verify pass).
 */
export async function listInActivity(source: IdentitySource, select: readonly string[], options: { resume?: boolean; spillDir?: string; heartbeat?: (details: ListingHeartbeat) => void } = {}): Promise<SourceListing> {
  const ctx = activityContext();
  const details = ctx?.info.heartbeatDetails as Partial<ListingHeartbeat> | undefined;
  const beat = options.heartbeat ?? ((d: ListingHeartbeat) => ctx?.heartbeat(d));
  return source.listAll(select, {
    resume: options.resume === false ? undefined : details?.listing,
    spillDir: options.spillDir,
    // Outside an activity (and without a heartbeat option) nobody could resume: nothing is kept for it.
    progress: ctx || options.heartbeat ? (p) => beat({ phase: 'reading source', pages: p.pages, identities: p.identities, listing: p.checkpoint }) : undefined,
  });
}

function activityContext(): Context | null {
  try {
    return Context.current();
  } catch {
    return null;
  }
}
