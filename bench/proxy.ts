import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through HTTP proxy that counts what goes through it: put in front of moto and scim2-server,
 * it tells how many target calls (and writes) a phase made and how long the target took per call,
 * without touching the connectors. The worker is pointed at it through its endpoint variables.
 */

export interface CallStats {
  count: number;
  /** Upstream time, request forwarded to response end, summed (ms). */
  totalMs: number;
  maxMs: number;
  status4xx: number;
  status5xx: number;
  /** Network errors talking to the upstream (answered 502). */
  errors: number;
}

export interface Classified {
  /** e.g. `GetUser`, `PATCH /Groups`. */
  key: string;
  write: boolean;
}

export type Classifier = (method: string, url: string, body: Buffer) => Classified;

export type StatsTable = Record<string, CallStats>;

export class CountingProxy {
  private server: Server | null = null;
  private upstream: URL | null = null;
  private readonly stats = new Map<string, CallStats>();
  private readonly writes = new Set<string>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  url = '';

  constructor(
    readonly name: string,
    private readonly classify: Classifier,
  ) {}

  /** Listens on a free loopback port. Requests before `setUpstream` get a 503. */
  async start(): Promise<string> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.url;
  }

  setUpstream(origin: string): void {
    this.upstream = new URL(origin);
  }

  /** A copy of the counters so far. */
  snapshot(): StatsTable {
    return Object.fromEntries([...this.stats].map(([k, v]) => [k, { ...v }]));
  }

  isWrite(key: string): boolean {
    return this.writes.has(key);
  }

  async close(): Promise<void> {
    this.agent.destroy();
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const { key, write } = this.classify(req.method ?? 'GET', req.url ?? '/', body);
      if (write) this.writes.add(key);
      const s = this.stats.get(key) ?? { count: 0, totalMs: 0, maxMs: 0, status4xx: 0, status5xx: 0, errors: 0 };
      this.stats.set(key, s);
      s.count += 1;
      const upstream = this.upstream;
      if (!upstream) {
        s.status5xx += 1;
        res.writeHead(503, { 'content-type': 'text/plain' }).end('benchmark proxy: upstream not set yet');
        return;
      }
      const started = performance.now();
      const headers = { ...req.headers };
      // The body was buffered: it goes on with a length, never chunked.
      delete headers['content-length'];
      delete headers['transfer-encoding'];
      const up = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...headers, 'content-length': String(body.length) }, agent: this.agent },
        (upRes) => {
          const status = upRes.statusCode ?? 0;
          if (status >= 500) s.status5xx += 1;
          else if (status >= 400) s.status4xx += 1;
          res.writeHead(status, upRes.headers);
          upRes.pipe(res);
          upRes.on('end', () => {
            const ms = performance.now() - started;
            s.totalMs += ms;
            s.maxMs = Math.max(s.maxMs, ms);
          });
        },
      );
      up.on('error', (err) => {
        s.errors += 1;
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`benchmark proxy: ${err.message}`);
      });
      up.end(body);
    });
  }
}

/** Counters after minus counters before: what one phase did. */
export function diffStats(after: StatsTable, before: StatsTable): StatsTable {
  const out: StatsTable = {};
  for (const [k, a] of Object.entries(after)) {
    const b = before[k];
    const d: CallStats = b
      ? { count: a.count - b.count, totalMs: a.totalMs - b.totalMs, maxMs: a.maxMs, status4xx: a.status4xx - b.status4xx, status5xx: a.status5xx - b.status5xx, errors: a.errors - b.errors }
      : { ...a };
    if (d.count > 0) out[k] = d;
  }
  return out;
}

export interface StatsSummary {
  calls: number;
  writes: number;
  reads: number;
  /** Mean upstream time per call (ms). */
  meanMs: number;
  /** Upstream time summed over all calls (ms); calls overlap when made concurrently. */
  totalMs: number;
  status5xx: number;
  errors: number;
  /** Per call kind, most calls first: count, mean ms, max ms, writes flagged. */
  byKind: { kind: string; count: number; meanMs: number; maxMs: number; write: boolean; status4xx: number }[];
}

export function summarize(stats: StatsTable, isWrite: (key: string) => boolean): StatsSummary {
  const entries = Object.entries(stats);
  const calls = entries.reduce((n, [, s]) => n + s.count, 0);
  const writes = entries.filter(([k]) => isWrite(k)).reduce((n, [, s]) => n + s.count, 0);
  const totalMs = entries.reduce((n, [, s]) => n + s.totalMs, 0);
  return {
    calls,
    writes,
    reads: calls - writes,
    meanMs: calls ? round(totalMs / calls, 2) : 0,
    totalMs: Math.round(totalMs),
    status5xx: entries.reduce((n, [, s]) => n + s.status5xx, 0),
    errors: entries.reduce((n, [, s]) => n + s.errors, 0),
    byKind: entries
      .map(([kind, s]) => ({ kind, count: s.count, meanMs: round(s.totalMs / s.count, 2), maxMs: round(s.maxMs, 1), write: isWrite(kind), status4xx: s.status4xx }))
      .sort((a, b) => b.count - a.count),
  };
}

const IAM_WRITE = /^(Create|Add|Remove|Tag|Untag|Update|Delete|Deactivate|Detach|Attach|Put|Enable|Change|Set|Upload|Reset|Resync)/;

/** IAM speaks the AWS query protocol: the operation is the `Action` form (or query) parameter. */
export const classifyIam: Classifier = (method, url, body) => {
  if (url.startsWith('/moto-api')) return { key: 'moto-api', write: false };
  const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? new URL(url, 'http://x').searchParams.get('Action') ?? `${method} (no Action)`;
  return { key: action, write: IAM_WRITE.test(action) };
};

/** SCIM: the method and resource type; a GET with a filter is a look-up, without one a listing. */
export const classifyScim: Classifier = (method, url) => {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/').filter(Boolean);
  const i = parts.findIndex((p) => /^(Users|Groups|ServiceProviderConfig|Schemas|ResourceTypes|Bulk|\.search)$/i.test(p));
  const resource = i >= 0 ? parts[i]! : 'other';
  const byId = i >= 0 && parts.length > i + 1;
  const query = method === 'GET' && !byId ? (u.searchParams.has('filter') ? ' (filter)' : resource === 'Users' || resource === 'Groups' ? ' (list)' : '') : '';
  return { key: `${method} /${resource}${byId ? '/{id}' : ''}${query}`, write: ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) && resource !== '.search' };
};

export function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
