/**
 * idflow's Entra ID / Microsoft Graph v1.0 simulator: one HTTPS server on loopback that is both the token
 * authority (login.microsoftonline.com) and Graph (graph.microsoft.com) for the subset idflow uses.
 * See docs/simulator.md.
 */
import { createHash } from 'node:crypto';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import * as net from 'node:net';
import { AdminApi, RequestLog, RequestLogEntry } from './admin';
import { Authority } from './auth';
import { ensureState } from './certs';
import { DeltaEngine } from './delta';
import { Directory } from './directory';
import { GraphFailure } from './errors';
import { defaultFaultError, FaultInjector } from './faults';
import { GraphApi } from './graph';
import { Ctx, makeCtx, sendEntraError, sendFailure, sendGraphError, sendJson } from './http';
import { generateOrganisation, loadSeedFile, SeedData } from './seed';
import { TokenCodec } from './tokens';

export { Directory } from './directory';
export type { UserRec, GroupRec, DirObject, Change } from './directory';
export type { RequestLogEntry } from './admin';
export type { FaultSpec, Fault } from './faults';
export { FaultInjector } from './faults';
export { generateOrganisation, loadSeedFile, seedFromJson } from './seed';
export type { SeedData, SeedUser, SeedGroup } from './seed';
export { TENANT_ID, CLIENT_ID, TENANT_DOMAIN } from './certs';

export interface SimulatorOptions {
  /** Where the CA, server cert, client credentials live; created if missing, reused if present. */
  stateDir: string;
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0 = a random free port. */
  port?: number;
  /** Generated organisation size, default 300. */
  users?: number;
  /** PRNG seed, default 42 (same seed -> identical organisation). */
  seed?: number;
  /** JSON seed file instead of generation (format: docs/simulator.md). */
  seedFile?: string;
  /** Items per page when the client sends no $top, default 100. */
  pageSizeDefault?: number;
  /** Total generated groups (at least the 10 named ones), default 12. */
  groups?: number;
  /** Application roles in issued tokens, default User.Read.All, Group.Read.All, GroupMember.Read.All. */
  roles?: string[];
  /** Access token lifetime; default like Entra's: a random 60 to 90 minutes per token. */
  tokenLifetimeSeconds?: number;
  /** Objects per delta page (clients may lower/raise it with Prefer: odata.maxpagesize), default = pageSizeDefault. */
  deltaPageSize?: number;
  /** members@delta entries per group entry before a group is split over pages, default 50. */
  deltaMembersPerPage?: number;
  /** Delta tokens older than this answer 410, default 7 days. */
  deltaTokenTtlSeconds?: number;
  /** Change-log entries kept for delta; older tokens answer 410. Default 100000. */
  changeLogRetention?: number;
  /** Max or-ed clauses / in-values in $filter (Graph: 15); 0 = unlimited. */
  maxFilterClauses?: number;
  /** Refuse a cast on a transitive relationship without ConsistencyLevel: eventual and $count=true, as Microsoft documents. Default true. */
  strictCasts?: boolean;
  /** Called after every request (for logging). */
  onRequest?: (entry: RequestLogEntry) => void;
}

export interface RunningSimulator {
  /** https://127.0.0.1:PORT — serves both the authority and Graph. */
  url: string;
  /** `${url}/` — the Graph client appends "v1.0/". */
  graphBaseUrl: string;
  /** = url */
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** PEM with the private key and the certificate registered for the app (ClientCertificateCredential). */
  clientCertificatePath: string;
  /** PEM of the local CA (NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** Contents of caFile. */
  caPem: string;
  /** In-process access to the data. */
  directory: Directory;
  /** In-process fault injection (same as POST /_admin/faults). */
  faults: FaultInjector;
  /** In-process access to the token endpoint's credentials (secretExpiresAt: POST /_admin/credentials/secret). */
  authority: Authority;
  /** In-process request log (same as GET /_admin/requests). */
  requests: RequestLog;
  /** Mint an access token directly (what the token endpoint would return), for raw HTTP tests. */
  issueToken(opts?: { lifetimeSeconds?: number; roles?: string[] }): string;
  /** Start-up timings in ms (state = keys/certs, seed = organisation, listen). */
  timings: { stateMs: number; generatedCertsMs: number; seedMs: number; totalMs: number };
  close(): Promise<void>;
}

export const DEFAULT_ROLES = ['User.Read.All', 'Group.Read.All', 'GroupMember.Read.All'];

function areaOf(low: string[]): RequestLogEntry['area'] {
  if (low[0] === 'v1.0' || low[0] === 'beta') return 'graph';
  if (low[0] === '_admin') return 'admin';
  if (low.length >= 2) return 'token';
  return 'other';
}

export async function startSimulator(opts: SimulatorOptions): Promise<RunningSimulator> {
  const t0 = Date.now();
  const host = opts.host ?? '127.0.0.1';
  const state = await ensureState(opts.stateDir, host);
  const t1 = Date.now();
  const pageSizeDefault = opts.pageSizeDefault ?? 100;
  const seedNum = opts.seed ?? 42;
  const seed: SeedData = opts.seedFile ? loadSeedFile(opts.seedFile) : generateOrganisation({ users: opts.users ?? 300, seed: seedNum, groups: opts.groups ?? 12 });
  const directory = new Directory(seed, { changeLogRetention: opts.changeLogRetention });
  const t2 = Date.now();

  const authority = new Authority(state, {
    roles: opts.roles ?? DEFAULT_ROLES,
    tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? null,
    appDisplayName: 'idflow',
  });
  const codec = new TokenCodec(createHash('sha256').update(state.signingKeyPem).update('page-tokens').digest());
  const delta = new DeltaEngine(directory, codec, {
    pageSize: opts.deltaPageSize ?? pageSizeDefault,
    membersPerPage: opts.deltaMembersPerPage ?? 50,
    tokenTtlSeconds: opts.deltaTokenTtlSeconds ?? 7 * 86400,
  });
  const graph = new GraphApi(directory, codec, delta, { pageSizeDefault, maxFilterClauses: opts.maxFilterClauses ?? 15, strictCasts: opts.strictCasts ?? true });
  const faults = new FaultInjector(seedNum);
  const requests = new RequestLog();
  const admin = new AdminApi(directory, faults, requests, () => authority.resetCredentials(), authority);

  let origin = '';

  const handle = async (ctx: Ctx): Promise<void> => {
    const segs = ctx.segments;
    const low = segs.map((s) => s.toLowerCase());
    if (segs.length === 0 || (low[0] === 'health' && segs.length === 1)) {
      return sendJson(ctx, 200, { status: 'ok', tenantId: state.tenantId });
    }
    const area = areaOf(low);
    const isToken = low[1] === 'oauth2' && low[2] === 'v2.0' && low[3] === 'token' && segs.length === 4;

    if (area === 'graph' || area === 'admin') {
      const claims = authority.verifyBearer(ctx);
      if (area === 'admin') return admin.handle(ctx, segs.slice(1));
      if (low[0] === 'beta') throw new GraphFailure(400, 'BadRequest', 'The simulator implements Graph v1.0 only.');
      if (await applyFaults(ctx, false)) return;
      ctx.baseHeaders['x-ms-resource-unit'] = String(GraphApi.cost(segs, ctx.url.searchParams));
      return graph.handle(ctx, claims, segs.slice(1));
    }
    if (isToken) {
      if (await applyFaults(ctx, true)) return;
      return authority.token(ctx, segs[0]!);
    }
    if (segs.length === 4 && low[1] === 'v2.0' && low[2] === '.well-known' && low[3] === 'openid-configuration') {
      return authority.openIdConfiguration(ctx, segs[0]!);
    }
    if (segs.length === 4 && low[1] === 'discovery' && low[2] === 'v2.0' && low[3] === 'keys') {
      return authority.keys(ctx, segs[0]!);
    }
    throw new GraphFailure(404, 'NotFound', `No such endpoint: ${ctx.method} ${ctx.url.pathname}`);
  };

  /** Returns true when a fault answered (or dropped) the request. */
  const applyFaults = async (ctx: Ctx, isToken: boolean): Promise<boolean> => {
    const d = faults.decide(ctx.method, ctx.url.pathname, isToken);
    if (d.latencyMs > 0) await new Promise((r) => setTimeout(r, d.latencyMs));
    const f = d.fault;
    if (!f) return false;
    ctx.faultId = f.id;
    if (f.drop) {
      ctx.req.socket.destroy();
      return true;
    }
    const status = f.status!;
    const headers: Record<string, string> = {};
    const retryAfter = f.retryAfter === undefined ? (status === 429 || status === 503 ? 1 : null) : f.retryAfter;
    if (retryAfter !== null) headers['retry-after'] = String(retryAfter);
    if (status === 429) {
      headers['x-ms-throttle-scope'] = `Tenant_Application/ReadWrite/${state.clientId}/${state.tenantId}`;
      headers['x-ms-throttle-information'] = 'ResourceUnitLimitExceeded';
      headers['x-ms-throttle-limit-percentage'] = '1.8';
      headers['x-ms-resource-unit'] = String(GraphApi.cost(ctx.segments, ctx.url.searchParams));
    }
    const def = defaultFaultError(status);
    if (isToken) {
      const err = status === 429 ? 'temporarily_unavailable' : status >= 500 ? 'server_error' : 'invalid_request';
      sendEntraError(ctx, status, err, status === 429 ? 90055 : 90033, f.message ?? (status === 429 ? 'TenantThrottlingError - There are too many incoming requests. This tenant is throttled temporarily.' : 'A transient error has occurred. Please try again.'), headers);
    } else {
      sendGraphError(ctx, status, f.code ?? def.code, f.message ?? def.message, headers);
    }
    return true;
  };

  const server = https.createServer({ key: state.serverKeyPem, cert: state.serverCertPem, keepAlive: true }, (req, res) => {
    const ctx = makeCtx(req, res, origin);
    const low = ctx.segments.map((s) => s.toLowerCase());
    const logIt = !(low[0] === '_admin' && low[1] === 'requests');
    let logged = false;
    const record = (status: number) => {
      if (logged || !logIt) return;
      logged = true;
      const ra = Number(req.headers['retry-attempt']);
      const entry = requests.add({
        time: new Date(ctx.started).toISOString(),
        method: ctx.method,
        path: req.url ?? ctx.url.pathname,
        status,
        durationMs: Date.now() - ctx.started,
        area: areaOf(low),
        requestId: ctx.requestId,
        clientRequestId: ctx.clientRequestId,
        ...(ctx.faultId ? { faultId: ctx.faultId } : {}),
        ...(Number.isFinite(ra) && ra > 0 ? { retryAttempt: ra } : {}),
      });
      opts.onRequest?.(entry);
    };
    res.on('finish', () => record(res.statusCode));
    res.on('close', () => record(res.headersSent ? res.statusCode : 0));
    handle(ctx).catch((e: unknown) => {
      if (res.headersSent || res.destroyed) return;
      if (e instanceof GraphFailure) return sendFailure(ctx, e);
      process.stderr.write(`simulator: internal error on ${ctx.method} ${ctx.url.pathname}: ${(e as Error)?.stack ?? String(e)}\n`);
      sendGraphError(ctx, 500, 'InternalServerError', 'The simulator hit an internal error; see its stderr.');
    });
  });
  server.keepAliveTimeout = 5000;
  server.on('tlsClientError', () => undefined);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const hostPart = net.isIPv6(host) ? `[${host}]` : host;
  const url = `https://${hostPart}:${port}`;
  origin = url;
  const t3 = Date.now();

  let closed: Promise<void> | null = null;
  return {
    url,
    graphBaseUrl: `${url}/`,
    authorityHost: url,
    tenantId: state.tenantId,
    clientId: state.clientId,
    clientSecret: state.clientSecret,
    clientCertificatePath: state.clientCertificatePath,
    caFile: state.caFile,
    caPem: state.caPem,
    directory,
    faults,
    authority,
    requests,
    issueToken: (o = {}) => (o.roles ? authority.issue('1', o.lifetimeSeconds ?? 3600, { roles: o.roles }) : authority.issue('1', o.lifetimeSeconds ?? 3600)),
    timings: { stateMs: t1 - t0, generatedCertsMs: state.generatedMs, seedMs: t2 - t1, totalMs: t3 - t0 },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
