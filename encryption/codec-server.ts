import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { PayloadDecryptionError } from './codec';
import { idflowMode, type IdflowMode } from './keys';

/**
 * A Temporal codec server (https://docs.temporal.io/codec-server): `POST …/encode` and `POST …/decode`
 * with a body `{ "payloads": [ { "metadata": { "<key>": "<base64>" }, "data": "<base64>" } ] }` (the
 * proto3 JSON form of temporal.api.common.v1.Payloads), answered in the same shape. Only the last path
 * segment counts, so it can be mounted under any prefix (e.g. `/default/decode`).
 *
 * Who may call it (docs/encryption.md, "Codec server"):
 * - Browser requests must come from one of `origins` (CORS); any other Origin gets 403. Preflights
 *   (OPTIONS) are answered for those origins without authentication, as browsers send none.
 * - Every POST needs `Authorization: Bearer <token>` (the Temporal CLI sends it with
 *   `--codec-auth "Bearer <token>"`).
 * - Development only (`trustLoopbackOrigin`): a POST without an Authorization header is accepted when
 *   the server listens on loopback, the peer address is loopback and the Origin is one of `origins`.
 *   That is what the dev Temporal UI sends with `--ui-codec-endpoint` (no token: the UI passes its
 *   own OIDC access token only over HTTPS when "passAccessToken" is set). Any local process can forge
 *   an Origin header, so this trusts every local user; it is refused in production mode.
 * - On a loopback address the Host header must name loopback too (no DNS rebinding).
 */

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /** Temporal UI origins allowed by CORS, e.g. http://127.0.0.1:8233 and http://localhost:8233. */
  origins: string[];
  /** Bearer token (at least 16 characters). Required unless trustLoopbackOrigin. */
  token?: string;
  /** Development only: accept token-less requests from an allowed Origin over loopback. */
  trustLoopbackOrigin?: boolean;
  /** When set, X-Namespace must be one of these. */
  namespaces?: string[];
  /** Largest request body; default 8 MiB. */
  maxBodyBytes?: number;
  /** One line per request (method, path, status, namespace, payload count, how it was authorised); never payload contents. */
  log?: (line: string) => void;
  /** Defaults to IDFLOW_MODE. */
  mode?: IdflowMode;
}

export interface RunningCodecServer {
  /** e.g. http://127.0.0.1:8234 — the value for `--ui-codec-endpoint` and `--codec-endpoint`. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Proto3 JSON form of a Payload: bytes as base64. */
export interface JsonPayload {
  metadata?: Record<string, string> | null;
  data?: string | null;
}

const BASE64_TEXT = /^[A-Za-z0-9+/_-]*={0,2}$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const LOOPBACK_PEERS = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const ALLOWED_HEADERS = 'X-Namespace, Content-Type, Authorization';
const MIN_TOKEN_LENGTH = 16;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function base64Bytes(value: unknown, what: string): Uint8Array {
  if (typeof value !== 'string' || !BASE64_TEXT.test(value)) throw new HttpError(400, `${what} must be a base64 string`);
  return new Uint8Array(Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64'));
}

/** Payload from its proto3 JSON form; throws a 400 error for anything else. */
export function payloadFromJson(json: unknown, index = 0): Payload {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HttpError(400, `payloads[${index}] must be an object`);
  const { metadata, data } = json as JsonPayload;
  const payload: Payload = { metadata: {} };
  if (metadata !== undefined && metadata !== null) {
    if (typeof metadata !== 'object' || Array.isArray(metadata)) throw new HttpError(400, `payloads[${index}].metadata must be an object`);
    for (const [k, v] of Object.entries(metadata)) payload.metadata![k] = base64Bytes(v, `payloads[${index}].metadata.${k}`);
  }
  if (data !== undefined && data !== null) payload.data = base64Bytes(data, `payloads[${index}].data`);
  return payload;
}

/** Proto3 JSON form of a Payload. */
export function payloadToJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}

function normaliseOrigin(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new Error(`codec server: origin ${JSON.stringify(origin)} is not a URL like http://127.0.0.1:8233`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`codec server: origin ${origin} must be http or https`);
  return url.origin;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Starts the codec server; resolves once it listens. */
export async function startCodecServer(opts: CodecServerOptions): Promise<RunningCodecServer> {
  const host = opts.host ?? '127.0.0.1';
  const onLoopback = LOOPBACK_HOSTS.has(host);
  const mode = opts.mode ?? idflowMode();
  const origins = new Set(opts.origins.map(normaliseOrigin));
  const namespaces = opts.namespaces && opts.namespaces.length > 0 ? new Set(opts.namespaces) : undefined;
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const log = opts.log ?? (() => undefined);
  const tokenDigest = opts.token !== undefined ? digest(opts.token) : undefined;

  if (opts.token !== undefined && opts.token.length < MIN_TOKEN_LENGTH) {
    throw new Error(`codec server: the token must be at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -base64 24)`);
  }
  if (opts.trustLoopbackOrigin) {
    if (mode === 'production') throw new Error('codec server: trusting the loopback UI origin without a token is for development only; it is refused with IDFLOW_MODE=production');
    if (!onLoopback) throw new Error(`codec server: trusting the UI origin without a token needs a loopback listen address, not ${host}`);
    for (const o of origins) {
      if (!LOOPBACK_HOSTS.has(new URL(o).hostname)) throw new Error(`codec server: trusting the UI origin without a token needs loopback origins, not ${o}`);
    }
  } else if (tokenDigest === undefined) {
    throw new Error('codec server: no token configured (IDFLOW_CODEC_TOKEN); every request must carry Authorization: Bearer <token>');
  }

  let port = 0;
  const authorise = (req: IncomingMessage, originAllowed: boolean): string => {
    const header = req.headers.authorization;
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      // Compare digests: constant time whatever the lengths.
      if (match && tokenDigest && timingSafeEqual(digest(match[1]!), tokenDigest)) return 'token';
      throw new HttpError(403, 'invalid codec server token');
    }
    const peer = req.socket.remoteAddress ?? '';
    if (opts.trustLoopbackOrigin && originAllowed && LOOPBACK_PEERS.has(peer)) return 'loopback-origin';
    throw new HttpError(401, 'missing Authorization: Bearer <token>', { 'WWW-Authenticate': 'Bearer realm="idflow-codec"' });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<{ status: number; ns?: string; count?: number; auth?: string }> => {
    const origin = req.headers.origin;
    const originAllowed = origin !== undefined && origins.has(origin);
    res.setHeader('Vary', 'Origin');
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (originAllowed) {
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
    }
    if (onLoopback) {
      const hostHeader = req.headers.host ?? '';
      const hostname = hostHeader.replace(/:\d+$/, '');
      if (!LOOPBACK_HOSTS.has(hostname) || hostHeader !== `${hostname}:${port}`) throw new HttpError(403, 'unexpected Host header');
    }
    if (origin !== undefined && !originAllowed) throw new HttpError(403, `origin ${origin} is not allowed`);

    const path = new URL(req.url ?? '/', 'http://codec').pathname;
    const op = path.split('/').filter(Boolean).pop();
    if (req.method === 'GET' && path === '/healthz') {
      send(res, 200, { ok: true });
      return { status: 200 };
    }
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', ALLOWED_HEADERS);
      res.setHeader('Access-Control-Max-Age', '600');
      res.writeHead(204).end();
      return { status: 204 };
    }
    if (op !== 'encode' && op !== 'decode') throw new HttpError(404, 'not found; use POST /encode or POST /decode');
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', { Allow: 'POST, OPTIONS' });

    const auth = authorise(req, originAllowed);
    const nsHeader = req.headers['x-namespace'];
    const ns = Array.isArray(nsHeader) ? nsHeader[0] : nsHeader;
    if (namespaces && (!ns || !namespaces.has(ns))) throw new HttpError(403, `namespace ${JSON.stringify(ns ?? null)} is not served here`);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') throw new HttpError(415, 'Content-Type must be application/json');

    const body = await readBody(req, maxBody);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new HttpError(400, 'body is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HttpError(400, 'body must be { "payloads": [ ... ] }');
    // `temporal workflow query` with no input sends `{}`: nothing to decode is an empty answer, not an error.
    const list = Object.keys(parsed).length === 0 ? [] : (parsed as { payloads?: unknown }).payloads;
    if (!Array.isArray(list)) throw new HttpError(400, 'body must be { "payloads": [ ... ] }');
    const payloads = list.map((p, i) => payloadFromJson(p, i));
    let out: Payload[];
    try {
      out = op === 'decode' ? await opts.codec.decode(payloads) : await opts.codec.encode(payloads);
    } catch (err) {
      if (err instanceof PayloadDecryptionError) throw new HttpError(422, err.message);
      throw err;
    }
    send(res, 200, { payloads: out.map(payloadToJson) });
    return { status: 200, ns, count: payloads.length, auth };
  };

  const server = createServer((req, res) => {
    handle(req, res)
      .then((r) => log(`codec-server: ${req.method} ${req.url} ${r.status}${r.ns ? ` ns=${r.ns}` : ''}${r.count !== undefined ? ` payloads=${r.count}` : ''}${r.auth ? ` auth=${r.auth}` : ''} origin=${req.headers.origin ?? '-'} peer=${req.socket.remoteAddress ?? '-'}`))
      .catch((err: unknown) => {
        const status = err instanceof HttpError ? err.status : 500;
        const message = err instanceof HttpError ? err.message : 'internal error';
        if (!res.headersSent) {
          if (err instanceof HttpError) for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
          send(res, status, { error: message });
        } else res.destroy();
        log(`codec-server: ${req.method} ${req.url} ${status} ${err instanceof HttpError ? message : `internal error: ${(err as Error).message}`} origin=${req.headers.origin ?? '-'} peer=${req.socket.remoteAddress ?? '-'}`);
      });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.close(() => resolveClose());
        server.closeAllConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text) }).end(text);
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolveBody, reject) => {
    const tooLarge = () => new HttpError(413, `body larger than ${max} bytes`, { Connection: 'close' });
    if (Number(req.headers['content-length'] ?? 0) > max) {
      req.resume(); // discard; the 413 goes out right away
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > max) {
        failed = true;
        chunks.length = 0;
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolveBody(Buffer.concat(chunks));
    });
    req.on('error', reject);
  });
}
