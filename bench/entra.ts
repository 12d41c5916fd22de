import type { StackInfo } from '../devstack/stack-file';
import { SimulatorClient } from '../simulator/admin-client';

/** The Entra ID simulator's Graph and admin API over HTTPS with its CA: arranging data and reading its request log. */

export interface GraphRequest {
  seq: number;
  method: string;
  path: string;
  status: number;
  durationMs: number;
  area: 'graph' | 'token' | 'admin' | 'other';
}

export interface GraphCalls {
  /** Graph (v1.0) requests. */
  calls: number;
  /** Token requests (client credentials). */
  tokenCalls: number;
  /** Mean server-side time per Graph request (ms). */
  meanMs: number;
  /** Per kind of request (ids replaced by {id}, query reduced to its options), most first. */
  byKind: { kind: string; count: number; meanMs: number }[];
  /** The simulator keeps the last 20 000 requests; counts stay exact, byKind may be partial. */
  partial: boolean;
}

export class EntraAdmin extends SimulatorClient {
  constructor(graph: StackInfo['graph']) {
    super(graph, { keepAlive: true });
  }

  /** Users by employee id (Graph allows at most 15 values in one `in`). */
  async usersByEmployeeIds(ids: readonly string[], select: string[]): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < ids.length; i += 15) {
      const chunk = ids.slice(i, i + 15).map((id) => `'${id}'`).join(',');
      const page = await this.call<{ value: Record<string, unknown>[] }>('GET', `/v1.0/users?$filter=${encodeURIComponent(`employeeId in (${chunk})`)}&$select=${select.join(',')}&$top=999`);
      out.push(...page.value);
    }
    return out;
  }

  async patchUser(id: string, patch: Record<string, unknown>): Promise<void> {
    await this.call('PATCH', `/_admin/users/${id}`, patch);
  }

  /** Sequence number of the newest logged request. */
  async lastRequest(): Promise<number> {
    return (await this.call<{ last: number }>('GET', '/_admin/requests?since=999999999999')).last;
  }

  /** What Graph was asked since `since` (a `lastRequest()` value). */
  async callsSince(since: number): Promise<GraphCalls & { last: number }> {
    const { value, last } = await this.call<{ value: GraphRequest[]; last: number }>('GET', `/_admin/requests?since=${since}`);
    const graph = value.filter((r) => r.area === 'graph');
    const kinds = new Map<string, { count: number; ms: number }>();
    for (const r of graph) {
      const k = kindOf(r.method, r.path);
      const e = kinds.get(k) ?? { count: 0, ms: 0 };
      e.count += 1;
      e.ms += r.durationMs;
      kinds.set(k, e);
    }
    const logged = value.length;
    const partial = logged < last - since;
    const totalMs = graph.reduce((n, r) => n + r.durationMs, 0);
    return {
      last,
      calls: partial ? graph.length + (last - since - logged) : graph.length,
      tokenCalls: value.filter((r) => r.area === 'token').length,
      meanMs: graph.length ? Math.round((totalMs / graph.length) * 10) / 10 : 0,
      byKind: [...kinds].map(([kind, e]) => ({ kind, count: e.count, meanMs: Math.round((e.ms / e.count) * 10) / 10 })).sort((a, b) => b.count - a.count),
      partial,
    };
  }
}

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** `/v1.0/users/{id}/transitiveMemberOf`, `/v1.0/users ($filter)`, `/v1.0/users (page)`... */
export function kindOf(method: string, path: string): string {
  const u = new URL(path, 'https://x');
  const p = decodeURIComponent(u.pathname).replace(GUID, '{id}');
  const opts = [...u.searchParams.keys()].filter((k) => k === '$filter' || k === '$skiptoken' || k === '$deltatoken');
  const label = opts.includes('$filter') ? ' ($filter)' : opts.includes('$skiptoken') ? ' (next page)' : opts.includes('$deltatoken') ? ' (delta)' : '';
  return `${method} ${p}${label}`;
}
