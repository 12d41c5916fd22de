import { ApplicationFailure } from '@temporalio/common';
import type { SourceCursor } from '../../contracts/source';
import type { EntraSourceConfig } from './config';
import { CURSOR_EXPIRED, type IdentitySource, type ListingOptions, type SourceChanges, type SourceListing } from '../source';
import { ENTRA_CATALOGUE } from './attributes';
import { createGraphClient, credentialFromEnv } from './client';
import { readIdentities } from './listing';
import { type DeltaLinks, GraphSource } from './source';

/** Entra ID behind the source interface: Graph's names, cursors and failures stay in here. */
export class EntraSource implements IdentitySource {
  readonly label = 'Entra ID';
  readonly catalogue = ENTRA_CATALOGUE;

  constructor(readonly graph: GraphSource) {}

  person(sourceId: string, select: readonly string[]) {
    return this.graph.userById(sourceId, select);
  }

  personByEmployeeId(employeeId: string, select: readonly string[]) {
    return this.graph.userByEmployeeId(employeeId, select);
  }

  sourceIdsByEmployeeId(employeeId: string) {
    return this.graph.userIdsByEmployeeId(employeeId);
  }

  employeeIdOf(sourceId: string) {
    return this.graph.employeeIdOf(sourceId);
  }

  async changesSince(select: readonly string[], cursor: SourceCursor | null): Promise<SourceChanges> {
    try {
      const delta = await this.graph.changesSince(select, cursor ? toDeltaLinks(cursor) : null);
      return { changes: delta.changes, cursor: delta.links, pages: delta.pages, unresolvedGroups: delta.unresolvedGroups };
    } catch (err) {
      if ((err as ApplicationFailure).type !== 'Graph.resyncRequired') throw err;
      throw ApplicationFailure.create({ message: (err as Error).message, type: CURSOR_EXPIRED, nonRetryable: true, details: (err as ApplicationFailure).details ?? [], cause: err as Error });
    }
  }

  async listAll(select: readonly string[], options: ListingOptions = {}): Promise<SourceListing> {
    const progress = options.progress;
    return readIdentities(this.graph, select, {
      resume: options.resume,
      spillDir: options.spillDir,
      checkpoint: progress ? (cp) => progress({ pages: cp.pages, identities: cp.identities, checkpoint: cp }) : undefined,
    });
  }

  ping() {
    return this.graph.ping();
  }
}

/** A cursor this adapter issued holds the users and groups delta links; anything else is refused, not guessed at. */
function toDeltaLinks(cursor: SourceCursor): DeltaLinks {
  if (typeof cursor.users !== 'string' || typeof cursor.groups !== 'string') {
    throw ApplicationFailure.nonRetryable(`the delta cursor is not one Entra ID issued (it needs users and groups delta links)`, CURSOR_EXPIRED);
  }
  return { users: cursor.users, groups: cursor.groups };
}

/** Entra ID from the config: Graph at `graphBaseUrl`, credentials from the worker's environment, only the referenced groups read. */
export function createEntraSource(config: EntraSourceConfig, referencedGroups: readonly string[], env: NodeJS.ProcessEnv): EntraSource {
  return new EntraSource(new GraphSource(createGraphClient({ baseUrl: config.graphBaseUrl, trustedHosts: config.trustedHosts }, credentialFromEnv(env)), referencedGroups));
}
