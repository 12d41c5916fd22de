import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A pass-through HTTP proxy in front of moto (IAM) or scim2-server (SCIM) for the resilience suite.
 * It keeps a ledger of every write the target accepted, so a test can prove no write happened twice,
 * and it can inject the failures a real target produces: IAM Throttling, SCIM 429 with Retry-After,
 * 5xx, a lost response after the write was applied, and a target that is down (connection refused).
 * A trigger fires on the Nth write (e.g. to SIGKILL the worker that sent it).
 */

export type TargetKind = 'iam' | 'scim';

export interface ProxyRequest {
  target: TargetKind;
  method: string;
  path: string;
  /** IAM: the Action; SCIM: `POST /Users`, `PATCH /Groups/{id}`, `GET /Users`, ... */
  op: string;
  write: boolean;
  /**
   * What the write changes, one key per effect: `CreateUser alice`, `AddUserToGroup g alice`,
   * `POST /Users alice`, `PATCH /Groups/{id} add <memberId>`. The same key accepted twice is the
   * same write done twice.
   */
  keys: string[];
  body: Buffer;
  /** Sent by the proxy with this request (time of arrival). */
  at: number;
}

export interface LedgerEntry {
  target: TargetKind;
  op: string;
  key: string;
  status: number;
  /** The target applied it (IAM 200, SCIM 2xx). */
  applied: boolean;
  /** The sender never got the answer (lost response, worker killed): its retry may repeat an idempotent write. */
  unanswered: boolean;
  at: number;
}

export type FaultKind =
  /** IAM's own throttling answer: HTTP 400, Sender/Throttling, "Rate exceeded". Not forwarded. */
  | 'iam-throttling'
  /** SCIM 429 Too Many Requests with Retry-After (seconds). Not forwarded. */
  | 'scim-429'
  /** A 5xx from a load balancer in front of the target. Not forwarded. */
  | 'status-5xx'
  /** Forwarded and applied by the target; the connection is then reset: the sender never learns. */
  | 'lost-response'
  /** Forwarded and applied; the sender gets a 500 (IAM InternalFailure / SCIM error) instead. */
  | 'error-after-apply'
  /**
   * Held until `holdFor` matching requests are waiting (or `durationMs` passed), then all forwarded
   * together: two writers that both looked first and found nothing now race for real.
   */
  | 'hold';

export interface FaultSpec {
  kind: FaultKind;
  /** Which requests (default: all but the proxy's own health checks). */
  match?: (req: ProxyRequest) => boolean;
  /** Probability per matching request (default 1), drawn from the suite's seeded generator. */
  ratio?: number;
  /** Only the next N matching requests it fires on. */
  count?: number;
  /** Active this long from now (or from the first request it matches, with `startOnFirstMatch`). */
  durationMs?: number;
  /** The storm begins with the first matching request, whenever that comes. */
  startOnFirstMatch?: boolean;
  /** At most this many times per request key (or op for reads), so a storm stays within a retry budget. */
  perKeyLimit?: number;
  /** For scim-429 (seconds; default 1). */
  retryAfter?: number;
  /** For status-5xx (default 503). */
  status?: number;
  /** For hold: how many requests to gather before releasing them (default 2). */
  holdFor?: number;
}

interface ActiveFault extends FaultSpec {
  id: number;
  until: number;
  fired: number;
  perKey: Map<string, number>;
  held: (() => void)[];
  started: boolean;
}

export interface FaultRecord {
  faultId: number;
  kind: FaultKind;
  op: string;
  key: string;
  at: number;
  retryAfter?: number;
}

export interface WriteTrigger {
  /** Fires when this many writes (counted across the proxies sharing the trigger) have arrived. */
  afterWrites: number;
  /**
   * `drop`: the Nth write never reaches the target; `landed`: it reaches the target but its answer
   * is lost; `acknowledged`: it completes and the sender gets the answer, then the trigger fires.
   */
  mode: 'drop' | 'landed' | 'acknowledged';
  fire: (req: ProxyRequest) => void;
}

/** Shared by the IAM and SCIM proxies of one worker, so "the Nth write" counts both targets. */
export class WriteCounter {
  writes = 0;
  trigger: WriteTrigger | null = null;
  fired: { at: number; write: number; op: string; key: string; mode: WriteTrigger['mode'] } | null = null;
}

export class TargetProxy {
  readonly ledger: LedgerEntry[] = [];
  readonly faultLog: FaultRecord[] = [];
  /** Every request seen: op and key, for the Retry-After check. */
  readonly requests: { op: string; key: string; at: number }[] = [];
  private readonly faults: ActiveFault[] = [];
  private faultSeq = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly upstream: URL;
  port = 0;

  constructor(
    readonly target: TargetKind,
    upstream: string,
    private readonly random: () => number,
    readonly counter: WriteCounter = new WriteCounter(),
  ) {
    this.upstream = new URL(upstream);
  }

  /** The origin to give the worker (IAM endpoint; for SCIM append the base path). */
  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(port = 0): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  /** The target goes down: the port stops listening (connection refused) and open connections are cut. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Back up on the same port. */
  async up(): Promise<void> {
    if (this.server) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start(this.port);
        return;
      } catch (err) {
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  get isDown(): boolean {
    return this.server === null;
  }

  addFault(spec: FaultSpec): number {
    const id = ++this.faultSeq;
    const until = spec.durationMs === undefined || spec.startOnFirstMatch ? Infinity : Date.now() + spec.durationMs;
    this.faults.push({ ...spec, id, until, fired: 0, perKey: new Map(), held: [], started: !spec.startOnFirstMatch });
    return id;
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  clearLedger(): void {
    this.ledger.length = 0;
    this.faultLog.length = 0;
    this.requests.length = 0;
  }

  async close(): Promise<void> {
    await this.down();
    this.agent.destroy();
  }

  private pickFault(req: ProxyRequest): ActiveFault | null {
    const now = Date.now();
    for (const f of this.faults) {
      if (now > f.until || (f.count !== undefined && f.fired >= f.count)) continue;
      if (f.match ? !f.match(req) : false) continue;
      if (!f.started) {
        f.started = true;
        f.until = now + (f.durationMs ?? 0);
      }
      const key = req.keys[0] ?? `${req.op} ${req.path}`;
      if (f.perKeyLimit !== undefined && (f.perKey.get(key) ?? 0) >= f.perKeyLimit) continue;
      if (f.ratio !== undefined && f.ratio < 1 && this.random() >= f.ratio) continue;
      f.fired += 1;
      f.perKey.set(key, (f.perKey.get(key) ?? 0) + 1);
      return f;
    }
    return null;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const parsed = this.target === 'iam' ? classifyIam(req.method ?? 'GET', req.url ?? '/', body) : classifyScim(req.method ?? 'GET', req.url ?? '/', body);
      const preq: ProxyRequest = { target: this.target, method: req.method ?? 'GET', path: req.url ?? '/', body, at: Date.now(), ...parsed };
      this.requests.push({ op: preq.op, key: preq.keys[0] ?? preq.op, at: preq.at });

      let trigger: WriteTrigger | null = null;
      if (preq.write) {
        this.counter.writes += 1;
        const t = this.counter.trigger;
        if (t && !this.counter.fired && this.counter.writes >= t.afterWrites) {
          trigger = t;
          this.counter.fired = { at: Date.now(), write: this.counter.writes, op: preq.op, key: preq.keys[0] ?? preq.op, mode: t.mode };
        }
      }
      if (trigger?.mode === 'drop') {
        trigger.fire(preq);
        req.socket.destroy();
        return;
      }
      if (trigger?.mode === 'landed') trigger.fire(preq);

      const fault = trigger ? null : this.pickFault(preq);
      if (fault) {
        this.faultLog.push({ faultId: fault.id, kind: fault.kind, op: preq.op, key: preq.keys[0] ?? preq.op, at: preq.at, ...(fault.kind === 'scim-429' ? { retryAfter: fault.retryAfter ?? 1 } : {}) });
        if (fault.kind === 'iam-throttling') return void answerIamError(res, 400, 'Sender', 'Throttling', 'Rate exceeded');
        if (fault.kind === 'scim-429') {
          res.writeHead(429, { 'content-type': 'application/scim+json', 'retry-after': String(fault.retryAfter ?? 1) });
          res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '429', detail: 'Too many requests' }));
          return;
        }
        if (fault.kind === 'status-5xx') {
          res.writeHead(fault.status ?? 503, { 'content-type': 'text/plain' });
          res.end('upstream unavailable');
          return;
        }
        if (fault.kind === 'hold') {
          const release = () => this.forwardAndRecord(preq, res, trigger, null);
          fault.held.push(release);
          const releaseAll = () => fault.held.splice(0).forEach((r) => r());
          if (fault.held.length >= (fault.holdFor ?? 2)) releaseAll();
          else setTimeout(releaseAll, Math.max(0, Math.min(fault.until, Date.now() + 10_000) - Date.now()));
          return;
        }
      }
      this.forwardAndRecord(preq, res, trigger, fault);
    });
  }

  private forwardAndRecord(preq: ProxyRequest, res: ServerResponse, trigger: WriteTrigger | null, fault: ActiveFault | null): void {
    this.forward(preq, res, (status, headers, answer) => {
      const applied = this.target === 'iam' ? status === 200 : status >= 200 && status < 300;
      const lost = trigger?.mode === 'landed' || fault?.kind === 'lost-response';
      if (preq.write) {
        for (const key of preq.keys) this.ledger.push({ target: this.target, op: preq.op, key, status, applied, unanswered: lost || fault?.kind === 'error-after-apply', at: preq.at });
      }
      if (lost) {
        res.socket?.destroy();
        return;
      }
      if (fault?.kind === 'error-after-apply') {
        if (this.target === 'iam') answerIamError(res, 500, 'Receiver', 'ServiceFailure', 'Internal failure');
        else {
          res.writeHead(500, { 'content-type': 'application/scim+json' });
          res.end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '500', detail: 'internal error' }));
        }
        return;
      }
      res.writeHead(status, headers);
      res.end(answer);
      if (trigger?.mode === 'acknowledged') trigger.fire(preq);
    });
  }

  private forward(preq: ProxyRequest, res: ServerResponse, done: (status: number, headers: Record<string, string | string[] | undefined>, body: Buffer) => void): void {
    const up = request(
      {
        host: this.upstream.hostname,
        port: this.upstream.port,
        method: preq.method,
        path: preq.path,
        headers: { ...stripHopHeaders(res.req.headers), host: this.upstream.host, 'content-length': String(preq.body.length) },
        agent: this.agent,
      },
      (upRes) => {
        const parts: Buffer[] = [];
        upRes.on('data', (c: Buffer) => parts.push(c));
        upRes.on('end', () => {
          const headers = { ...upRes.headers };
          delete headers['transfer-encoding'];
          delete headers.connection;
          const answer = Buffer.concat(parts);
          headers['content-length'] = String(answer.length);
          done(upRes.statusCode ?? 502, headers, answer);
        });
      },
    );
    up.on('error', (err) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`resilience proxy: ${err.message}`);
    });
    up.end(preq.body);
  }
}

function stripHopHeaders(headers: IncomingMessage['headers']): Record<string, string | string[] | undefined> {
  const out = { ...headers };
  for (const h of ['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'host']) delete out[h];
  return out;
}

function answerIamError(res: ServerResponse, status: number, type: string, code: string, message: string): void {
  const xml = `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>${type}</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>resilience-proxy</RequestId></ErrorResponse>`;
  res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': 'resilience-proxy' });
  res.end(xml);
}

const IAM_WRITE = /^(Create|Add|Remove|Tag|Untag|Update|Delete|Deactivate|Detach|Attach|Put|Enable|Change|Set|Upload|Reset|Resync)/;

/** IAM's query protocol: the Action and its parameters are the form body. */
export function classifyIam(method: string, url: string, body: Buffer): { op: string; write: boolean; keys: string[] } {
  if (url.startsWith('/moto-api')) return { op: 'moto-api', write: false, keys: [] };
  const form = new URLSearchParams(body.toString('utf8'));
  const op = form.get('Action') ?? new URL(url, 'http://x').searchParams.get('Action') ?? `${method} (no Action)`;
  const write = IAM_WRITE.test(op);
  if (!write) return { op, write, keys: [`${op} ${form.get('UserName') ?? form.get('GroupName') ?? ''}`.trim()] };
  const params = [...form.entries()].filter(([k]) => k !== 'Action' && k !== 'Version').sort(([a], [b]) => a.localeCompare(b));
  const main = op === 'CreateUser' ? form.get('UserName') : op === 'CreateGroup' ? form.get('GroupName') : op.endsWith('Group') && form.get('GroupName') ? `${form.get('GroupName')} ${form.get('UserName') ?? ''}`.trim() : null;
  return { op, write, keys: [main !== null ? `${op} ${main}` : `${op} ${params.map(([k, v]) => `${k}=${v}`).join('&')}`] };
}

/** SCIM: method + resource; writes keyed by what they create or change (one key per member of a group PATCH). */
export function classifyScim(method: string, url: string, body: Buffer): { op: string; write: boolean; keys: string[] } {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/').filter(Boolean);
  const i = parts.findIndex((p) => /^(Users|Groups|ServiceProviderConfig|Schemas|ResourceTypes|Bulk)$/.test(p));
  const resource = i >= 0 ? parts[i]! : 'other';
  const id = i >= 0 ? parts[i + 1] : undefined;
  const op = `${method} /${resource}${id ? '/{id}' : ''}`;
  const write = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method);
  if (!write) return { op, write, keys: [`${op}${u.search}`] };
  let json: Record<string, unknown> = {};
  try {
    json = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
  } catch {
    // not JSON: keyed by path only
  }
  if (method === 'POST' && resource === 'Users') return { op, write, keys: [`POST /Users ${String(json.userName)}`] };
  if (method === 'POST' && resource === 'Groups') return { op, write, keys: [`POST /Groups ${String(json.displayName)}`] };
  if (method === 'PATCH' && resource === 'Groups') {
    const keys: string[] = [];
    for (const o of (json.Operations as { op?: string; path?: string; value?: unknown }[] | undefined) ?? []) {
      const members = Array.isArray(o.value) ? (o.value as { value?: string }[]) : [];
      if (String(o.op).toLowerCase() === 'add' && members.length) for (const m of members) keys.push(`PATCH /Groups/${id} add ${m.value}`);
      else keys.push(`PATCH /Groups/${id} ${String(o.op)} ${o.path ?? ''} ${JSON.stringify(o.value ?? null)}`);
    }
    return { op, write, keys: keys.length ? keys : [`PATCH /Groups/${id}`] };
  }
  return { op, write, keys: [`${method} /${resource}/${id ?? ''} ${body.toString('utf8')}`] };
}

/**
 * The writes applied more than once. A repeat is excused only for an idempotent membership add
 * whose earlier answer never reached the sender (the SDK's own retry of a lost response).
 */
export function repeatedWrites(ledger: readonly LedgerEntry[]): { key: string; times: number }[] {
  const byKey = new Map<string, LedgerEntry[]>();
  for (const e of ledger) if (e.applied) byKey.set(e.key, [...(byKey.get(e.key) ?? []), e]);
  const out: { key: string; times: number }[] = [];
  for (const [key, entries] of byKey) {
    if (entries.length < 2) continue;
    const idempotentAdd = /^(AddUserToGroup |PATCH \/Groups\/\S+ add )/.test(key);
    const excused = idempotentAdd ? entries.filter((e) => e.unanswered).length : 0;
    if (entries.length - excused > 1) out.push({ key, times: entries.length });
  }
  return out;
}
