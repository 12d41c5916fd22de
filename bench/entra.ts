import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import type { StackInfo } from '../devstack/stack-file';

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

export class EntraAdmin {
  private token: string | null = null;
  private readonly ca: Buffer;
  private readonly agent: Agent;

  constructor(private readonly graph: StackInfo['graph']) {
    this.ca = readFileSync(graph.caFile);
    this.agent = new Agent({ keepAlive: true, ca: this.ca });
  }

  async call<T = unknown>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<T> {
    const res = await this.send(method, path, { ...headers, authorization: `Bearer ${await this.accessToken()}` }, body === undefined ? undefined : JSON.stringify(body), 'application/json');
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${res.body.slice(0, 300)}`);
    return (res.body ? JSON.parse(res.body) : undefined) as T;
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

  close(): void {
    this.agent.destroy();
  }

  private async accessToken(): Promise<string> {
    if (this.token) return this.token;
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.graph.clientId, client_secret: this.graph.clientSecret, scope: 'https://graph.microsoft.com/.default' });
    const res = await this.send('POST', `/${this.graph.tenantId}/oauth2/v2.0/token`, {}, form.toString(), 'application/x-www-form-urlencoded');
    if (res.status !== 200) throw new Error(`simulator token: ${res.status} ${res.body.slice(0, 300)}`);
    this.token = (JSON.parse(res.body) as { access_token: string }).access_token;
    return this.token;
  }

  private send(method: string, path: string, headers: Record<string, string>, body: string | undefined, type: string): Promise<{ status: number; body: string }> {
    const url = new URL(path, this.graph.authorityHost);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, agent: this.agent, headers: { ...headers, ...(body ? { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (data += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }
}

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

/** `/v1.0/users/{id}/transitiveMemberOf/microsoft.graph.group`, `/v1.0/users ($filter)`, `/v1.0/users (page)`... */
export function kindOf(method: string, path: string): string {
  const u = new URL(path, 'https://x');
  const p = decodeURIComponent(u.pathname).replace(GUID, '{id}');
  const opts = [...u.searchParams.keys()].filter((k) => k === '$filter' || k === '$skiptoken' || k === '$deltatoken');
  const label = opts.includes('$filter') ? ' ($filter)' : opts.includes('$skiptoken') ? ' (next page)' : opts.includes('$deltatoken') ? ' (delta)' : '';
  return `${method} ${p}${label}`;
}
