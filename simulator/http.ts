/** Request context and response helpers (Graph and Entra error formats, request/correlation ids). */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { GraphFailure } from './errors';
import { entraTimestamp, graphDate } from './util';

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  url: URL;
  /** Lower-cased path segments after splitting on '/', URL-decoded. */
  segments: string[];
  requestId: string;
  clientRequestId: string;
  started: number;
  /** Set by the fault injector when a fault answered the request. */
  faultId?: string;
  /** Extra response headers added to every reply (request-id etc.). */
  baseHeaders: Record<string, string>;
}

export function makeCtx(req: IncomingMessage, res: ServerResponse, origin: string): Ctx {
  const target = req.url ?? '/';
  // Concatenate rather than resolve: "//x/y" must stay a path on this origin, not become host "x".
  const url = new URL(target.startsWith('/') ? `${origin}${target}` : `${origin}/${target}`);
  const requestId = randomUUID();
  const hdr = req.headers['client-request-id'];
  const fromQuery = url.searchParams.get('client-request-id');
  const clientRequestId = (typeof hdr === 'string' && hdr) || fromQuery || requestId;
  const segments = url.pathname
    .split('/')
    .filter((s) => s !== '')
    .map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
  return {
    req,
    res,
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    segments,
    requestId,
    clientRequestId,
    started: Date.now(),
    baseHeaders: { 'request-id': requestId, 'client-request-id': clientRequestId, 'x-ms-ags-diagnostic': '{"ServerInfo":{"DataCenter":"Loopback","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"idflow-simulator"}}' },
  };
}

const GRAPH_JSON = 'application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8';

export function send(ctx: Ctx, status: number, body: string | Buffer | null, headers: Record<string, string> = {}): void {
  if (ctx.res.headersSent) return;
  const h: Record<string, string | number> = { ...ctx.baseHeaders, ...headers };
  if (body !== null) h['content-length'] = Buffer.byteLength(body);
  ctx.res.writeHead(status, h);
  ctx.res.end(ctx.method === 'HEAD' ? undefined : (body ?? undefined));
}

export function sendJson(ctx: Ctx, status: number, obj: unknown, headers: Record<string, string> = {}): void {
  send(ctx, status, JSON.stringify(obj), { 'content-type': GRAPH_JSON, 'odata-version': '4.0', ...headers });
}

export function graphErrorBody(ctx: Ctx, code: string, message: string): object {
  return { error: { code, message, innerError: { date: graphDate(), 'request-id': ctx.requestId, 'client-request-id': ctx.clientRequestId } } };
}

export function sendGraphError(ctx: Ctx, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(ctx, status, graphErrorBody(ctx, code, message), { 'content-type': 'application/json', ...headers });
}

export function sendFailure(ctx: Ctx, f: GraphFailure): void {
  sendGraphError(ctx, f.status, f.code, f.message, f.headers);
}

/** Entra (login.microsoftonline.com) error body: error, error_description with trace lines, error_codes, ids. */
export function sendEntraError(ctx: Ctx, status: number, error: string, aadsts: number, description: string, headers: Record<string, string> = {}): void {
  const now = new Date();
  const ts = entraTimestamp(now);
  const traceId = ctx.requestId;
  const correlationId = ctx.clientRequestId;
  const body = {
    error,
    error_description: `AADSTS${aadsts}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${ts}`,
    error_codes: [aadsts],
    timestamp: ts,
    trace_id: traceId,
    correlation_id: correlationId,
    error_uri: `${ctx.url.origin}/error?code=${aadsts}`,
  };
  send(ctx, status, JSON.stringify(body), {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store, no-cache',
    pragma: 'no-cache',
    'x-ms-request-id': traceId,
    'x-ms-ests-server': 'idflow-simulator',
    ...headers,
  });
}

export async function readBody(req: IncomingMessage, limit = 1 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const b = chunk as Buffer;
    size += b.length;
    if (size > limit) throw new GraphFailure(413, 'Request_EntityTooLarge', 'The request body is too large.');
    chunks.push(b);
  }
  return Buffer.concat(chunks);
}

export function header(ctx: Ctx, name: string): string | undefined {
  const v = ctx.req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}
