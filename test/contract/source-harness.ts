import { type RunningSimulator, startSimulator } from '../../simulator';
import { EntraSource } from '../../sources/entra/adapter';
import { createGraphClient } from '../../sources/entra/client';
import { GraphSource } from '../../sources/entra/source';
import type { IdentitySource } from '../../sources/source';
import { secretCredential, SHARED_STATE_DIR } from '../simulator/harness';
import { trustingDispatcher } from '../simulator/trust';

/**
 * One entry per source kind: how the source contract suite starts the kind's real or simulated
 * server, builds the adapter on it, and changes people behind idflow's back. A new source is one
 * folder under sources/, one registry entry and one entry here.
 */
export interface SourceHarness {
  kind: string;
  /** An adapter that reads memberships only of `groups` (by display name). */
  source(groups: readonly string[]): IdentitySource;
  /** Attributes of the kind's catalogue the suite selects. */
  select: string[];
  createGroup(name: string, memberGroups?: string[]): Promise<void>;
  /** A new person; returns their stable source id. */
  createPerson(p: { employeeId: string; displayName: string; groups?: string[] }): Promise<string>;
  update(sourceId: string, attrs: Record<string, string | boolean>): Promise<void>;
  remove(sourceId: string, hard: boolean): Promise<void>;
  /** Makes every cursor handed out so far one the source no longer honours. */
  expireCursors(): Promise<void>;
  /** How many people the source holds now (live ones). */
  people(): Promise<number>;
  teardown(): Promise<void>;
}

async function entraHarness(): Promise<SourceHarness> {
  // Small, so every listing is a few pages; the shared CA saves generating one per file.
  const sim: RunningSimulator = await startSimulator({ stateDir: SHARED_STATE_DIR, users: 40, groups: 4 });
  const dispatcher = await trustingDispatcher(sim.caPem);
  const groupId = (name: string) => sim.directory.groupByName(name)!.id;
  return {
    kind: 'entra',
    select: ['accountEnabled', 'department', 'displayName', 'employeeId', 'id', 'userPrincipalName'],
    source: (groups) => {
      const client = createGraphClient({ baseUrl: sim.graphBaseUrl, trustedHosts: [new URL(sim.url).hostname] }, secretCredential(sim), { fetchOptions: { dispatcher } as unknown as RequestInit });
      return new EntraSource(new GraphSource(client, groups));
    },
    async createGroup(name, memberGroups = []) {
      sim.directory.createGroup({ displayName: name, members: memberGroups.map(groupId) });
    },
    async createPerson(p) {
      const nick = p.displayName.toLowerCase().replace(/[^a-z0-9]+/g, '.');
      const u = sim.directory.createUser({ displayName: p.displayName, userPrincipalName: `${nick}@contoso.example`, employeeId: p.employeeId, department: 'Contract' });
      for (const g of p.groups ?? []) sim.directory.addMember(groupId(g), u.id);
      return u.id;
    },
    async update(id, attrs) {
      sim.directory.updateUser(id, attrs);
    },
    async remove(id, hard) {
      sim.directory.deleteUser(id, { hard });
    },
    async expireCursors() {
      sim.directory.expireDeltaTokens();
    },
    async people() {
      return sim.directory.liveUsers().length;
    },
    async teardown() {
      await sim.close();
      await (dispatcher as { close?: () => Promise<void> }).close?.();
    },
  };
}

export const SOURCE_HARNESSES: [string, () => Promise<SourceHarness>][] = [['entra (Entra ID simulator)', entraHarness]];
