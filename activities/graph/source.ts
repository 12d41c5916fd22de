import type { Client } from '@microsoft/microsoft-graph-client';
import type { Group, User } from '@microsoft/microsoft-graph-types';
import type { AttributeValue, SourceGroupRef, SourceIdentity } from '../../domain/types';
import { toGraphFailure } from './client';

/** Reads people from Entra ID through Graph, fetching only the selected attributes. */
export class GraphSource {
  constructor(private readonly client: Client) {}

  async userByEmployeeId(employeeId: string, select: readonly string[]): Promise<SourceIdentity | null> {
    const escaped = employeeId.replace(/'/g, "''");
    let page: { value: User[] };
    try {
      page = await this.client.api('/users').filter(`employeeId eq '${escaped}'`).select([...select]).top(2).get();
    } catch (err) {
      throw toGraphFailure(err, `user lookup by employeeId ${employeeId}`);
    }
    if (page.value.length > 1) throw new Error(`more than one Entra ID user has employeeId ${employeeId}`);
    const user = page.value[0];
    if (!user) return null;
    return toIdentity(user, select, await this.transitiveGroups(user.id!));
  }

  /** Groups the user is in directly or through nested groups. */
  async transitiveGroups(userId: string): Promise<SourceGroupRef[]> {
    const groups: SourceGroupRef[] = [];
    try {
      let next: string | undefined = `/users/${encodeURIComponent(userId)}/transitiveMemberOf/microsoft.graph.group?$select=id,displayName&$top=999`;
      while (next) {
        const page: { value: Group[]; '@odata.nextLink'?: string } = await this.client.api(next).get();
        for (const g of page.value) groups.push({ id: g.id!, displayName: g.displayName ?? g.id! });
        next = page['@odata.nextLink'];
      }
    } catch (err) {
      throw toGraphFailure(err, `group memberships of user ${userId}`);
    }
    return groups.sort((a, b) => a.displayName.localeCompare(b.displayName) || a.id.localeCompare(b.id));
  }
}

export function toIdentity(user: User, select: readonly string[], groups: SourceGroupRef[]): SourceIdentity {
  const record = user as Record<string, unknown>;
  const attributes: Record<string, AttributeValue> = {};
  for (const key of select) {
    const v = record[key];
    attributes[key] = typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' ? v : null;
  }
  return {
    id: user.id!,
    employeeId: user.employeeId ?? '',
    userPrincipalName: user.userPrincipalName ?? '',
    accountEnabled: user.accountEnabled ?? false,
    attributes,
    groups,
  };
}
