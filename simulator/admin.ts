/**
 * Admin API under /_admin (same bearer token as Graph): mutate the directory, inject faults, reset, read the
 * request log, expire delta tokens. Not part of Graph; used by tests, demos and benchmarks.
 */
import type { Authority } from './auth';
import { Directory } from './directory';
import { badRequest, GraphFailure, notFound } from './errors';
import { FaultInjector, parseFaultSpec } from './faults';
import { Ctx, readBody, send, sendJson } from './http';
import { renderGroup, renderOther, renderUser } from './render';
import { GROUP_PROPS, USER_PROPS } from './schema';
import { isPlainObject } from './util';

export interface RequestLogEntry {
  seq: number;
  time: string;
  method: string;
  /** Path and query string as requested. */
  path: string;
  status: number;
  durationMs: number;
  area: 'graph' | 'token' | 'admin' | 'other';
  requestId: string;
  clientRequestId: string;
  /** Id of the fault that answered the request, if any. */
  faultId?: string;
  /** Retry-Attempt request header sent by the Graph client's RetryHandler. */
  retryAttempt?: number;
}

export class RequestLog {
  private entries: RequestLogEntry[] = [];
  private nextSeq = 1;
  constructor(private readonly limit = 20_000) {}
  add(e: Omit<RequestLogEntry, 'seq'>): RequestLogEntry {
    const full = { ...e, seq: this.nextSeq++ };
    this.entries.push(full);
    if (this.entries.length > this.limit * 1.1) this.entries.splice(0, this.entries.length - this.limit);
    return full;
  }
  /** Entries with seq > since. */
  since(since = 0): RequestLogEntry[] {
    return this.entries.filter((e) => e.seq > since);
  }
  /** Sequence number of the newest entry (pass it as `since` to see only later requests). */
  get last(): number {
    return this.nextSeq - 1;
  }
}

const allUserProps = () => [...USER_PROPS.values()].filter((p) => !p.writeOnly && !p.singleOnly).map((p) => p.name);
const allGroupProps = () => [...GROUP_PROPS.values()].map((p) => p.name);

export class AdminApi {
  constructor(
    private readonly dir: Directory,
    private readonly faults: FaultInjector,
    private readonly log: RequestLog,
    private readonly onReset: () => void,
    private readonly authority: Authority,
  ) {}

  private async json(ctx: Ctx): Promise<Record<string, unknown>> {
    const raw = (await readBody(ctx.req)).toString('utf8');
    if (raw.trim() === '') return {};
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      throw badRequest('The request body is not valid JSON.', 'BadRequest');
    }
    if (!isPlainObject(v)) throw badRequest('The request body must be a JSON object.', 'BadRequest');
    return v;
  }

  async handle(ctx: Ctx, rest: string[]): Promise<void> {
    const m = ctx.method;
    const [a, b, c, d] = rest;
    const A = a?.toLowerCase();
    const C = c?.toLowerCase();
    const user = (u: ReturnType<Directory['createUser']>) => ({ ...renderUser(u, { select: allUserProps() }), managerId: u.managerId });

    if (A === 'users') {
      if (m === 'POST' && rest.length === 1) {
        const u = this.dir.createUser(await this.json(ctx));
        return sendJson(ctx, 201, user(u), { location: `${ctx.url.origin}/v1.0/users/${u.id}` });
      }
      if (m === 'GET' && rest.length === 1) {
        return sendJson(ctx, 200, { value: this.dir.orderedUsers().map((u) => ({ ...user(u), deletedDateTime: u.deletedAt })) });
      }
      if (b && rest.length === 2) {
        if (m === 'GET') {
          const u = this.dir.getUser(b, { includeDeleted: true });
          if (!u) throw notFound(b);
          return sendJson(ctx, 200, { ...user(u), deletedDateTime: u.deletedAt });
        }
        if (m === 'PATCH') {
          const changed = this.dir.updateUser(b, await this.json(ctx));
          return sendJson(ctx, 200, { ...user(this.dir.getUser(b)!), '@changed': changed });
        }
        if (m === 'DELETE') {
          const hard = ['true', '1', 'yes'].includes((ctx.url.searchParams.get('hard') ?? '').toLowerCase());
          this.dir.deleteUser(b, { hard });
          return send(ctx, 204, null);
        }
      }
      if (b && C === 'restore' && rest.length === 3 && m === 'POST') {
        return sendJson(ctx, 200, user(this.dir.restoreUser(b)));
      }
      if (b && C === 'manager' && rest.length === 3) {
        if (m === 'PUT' || m === 'POST') {
          const body = await this.json(ctx);
          if (typeof body.id !== 'string') throw badRequest('Body must be {"id": "<manager id>"}.');
          this.dir.setManager(b, body.id);
          return send(ctx, 204, null);
        }
        if (m === 'DELETE') {
          this.dir.setManager(b, null);
          return send(ctx, 204, null);
        }
      }
    }

    if (A === 'groups') {
      if (m === 'POST' && rest.length === 1) {
        const g = this.dir.createGroup(await this.json(ctx));
        return sendJson(ctx, 201, renderGroup(g, { select: allGroupProps() }), { location: `${ctx.url.origin}/v1.0/groups/${g.id}` });
      }
      if (b && rest.length === 2) {
        if (m === 'PATCH') {
          const changed = this.dir.updateGroup(b, await this.json(ctx));
          return sendJson(ctx, 200, { ...renderGroup(this.dir.getGroup(b)!, { select: allGroupProps() }), '@changed': changed });
        }
        if (m === 'DELETE') {
          this.dir.deleteGroup(b);
          return send(ctx, 204, null);
        }
      }
      if (b && C === 'members') {
        if (m === 'POST' && rest.length === 3) {
          const body = await this.json(ctx);
          const id = typeof body.id === 'string' ? body.id : typeof body['@odata.id'] === 'string' ? String(body['@odata.id']).split('/').pop()! : null;
          if (!id) throw badRequest('Body must be {"id": "<user or group id>"}.');
          this.dir.addMember(b, id);
          return send(ctx, 204, null);
        }
        if (m === 'DELETE' && d && rest.length === 4) {
          this.dir.removeMember(b, d);
          return send(ctx, 204, null);
        }
      }
    }

    if (A === 'directoryobjects' && m === 'POST' && rest.length === 1) {
      const body = await this.json(ctx);
      const type = String(body['@odata.type'] ?? body.type ?? '').replace(/^#?microsoft\.graph\./, '');
      if (type !== 'servicePrincipal' && type !== 'device' && type !== 'orgContact') throw badRequest('type must be servicePrincipal, device or orgContact.');
      if (typeof body.displayName !== 'string' || body.displayName === '') throw badRequest("Property 'displayName' is required.");
      const o = this.dir.createOther(type, body.displayName, typeof body.id === 'string' ? body.id : undefined);
      return sendJson(ctx, 201, renderOther(o, { select: null, withType: true }));
    }

    if (A === 'faults') {
      if (m === 'POST' && rest.length === 1) return sendJson(ctx, 201, this.faults.add(parseFaultSpec(await this.json(ctx))));
      if (m === 'GET' && rest.length === 1) return sendJson(ctx, 200, { value: this.faults.list() });
      if (m === 'DELETE' && rest.length === 1) {
        this.faults.clear();
        return send(ctx, 204, null);
      }
      if (m === 'DELETE' && b && rest.length === 2) {
        if (!this.faults.remove(b)) throw notFound(b);
        return send(ctx, 204, null);
      }
    }

    if (A === 'reset' && m === 'POST' && rest.length === 1) {
      this.dir.reset();
      this.faults.clear();
      this.onReset();
      return sendJson(ctx, 200, { reset: true, ...this.dir.stats() });
    }
    if (A === 'requests' && m === 'GET' && rest.length === 1) {
      const since = Number(ctx.url.searchParams.get('since') ?? '0');
      if (!Number.isFinite(since)) throw badRequest('since must be a number');
      const value = this.log.since(since);
      return sendJson(ctx, 200, { value, last: this.log.last });
    }
    if (A === 'delta' && b?.toLowerCase() === 'expire' && m === 'POST' && rest.length === 2) {
      this.dir.expireDeltaTokens();
      return sendJson(ctx, 200, { expired: true, epoch: this.dir.epoch });
    }
    if (A === 'delta' && b?.toLowerCase() === 'age' && m === 'POST' && rest.length === 2) {
      const seconds = Number((await this.json(ctx)).seconds);
      if (!Number.isFinite(seconds) || seconds <= 0) throw badRequest('seconds must be a positive number');
      this.dir.ageDeltaTokens(seconds);
      return sendJson(ctx, 200, { aged: seconds });
    }
    if (A === 'delta' && b?.toLowerCase() === 'quirks' && m === 'POST' && rest.length === 2) {
      const body = await this.json(ctx);
      for (const [k, v] of Object.entries(body)) {
        if (!(k in this.dir.deltaQuirks) || typeof v !== 'boolean') throw badRequest(`Unknown delta quirk or non-boolean value: ${k} (known: ${Object.keys(this.dir.deltaQuirks).join(', ')}).`);
        this.dir.deltaQuirks[k as keyof typeof this.dir.deltaQuirks] = v;
      }
      return sendJson(ctx, 200, { ...this.dir.deltaQuirks });
    }
    if (A === 'credentials' && b?.toLowerCase() === 'secret' && m === 'POST' && rest.length === 2) {
      // {"expiresAt": ISO time or null}; a time in the past expires the secret now (AADSTS7000222).
      const at = (await this.json(ctx)).expiresAt;
      if (at !== null && (typeof at !== 'string' || Number.isNaN(Date.parse(at)))) throw badRequest('expiresAt must be an ISO date-time or null.');
      this.authority.secretExpiresAt = at === null ? null : Date.parse(at);
      return sendJson(ctx, 200, { expiresAt: at });
    }
    if (A === 'replication' && m === 'POST' && rest.length === 1) {
      const delayMs = Number((await this.json(ctx)).delayMs);
      if (!Number.isFinite(delayMs) || delayMs < 0) throw badRequest('delayMs must be a number >= 0');
      this.dir.replicationDelayMs = delayMs;
      return sendJson(ctx, 200, { delayMs });
    }
    if (A === 'state' && m === 'GET' && rest.length === 1) {
      return sendJson(ctx, 200, this.dir.stats());
    }
    throw new GraphFailure(404, 'NotFound', `No admin endpoint ${m} /_admin/${rest.join('/')}.`);
  }
}
