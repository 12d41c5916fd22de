import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { IAMClient } from '@aws-sdk/client-iam';
import { ApplicationFailure } from '@temporalio/common';
import { PLUGINS } from '../../runtime/plugins';
import type { IamTargetConfig } from '../../targets/aws-iam/config';
import type { ScimTargetConfig } from '../../targets/scim/config';
import { readStackFile, type StackInfo } from '../../devstack/stack-file';
import { testStack as sharedTestStack } from '../support/stack';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export const TEST_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/**
 * The shared test stack (jest globalSetup). IDFLOW_TARGET_TEST_STACK may name another stack file,
 * to run these suites against servers started by hand, without the rest of the stack.
 */
function testStack(): StackInfo {
  const own = process.env.IDFLOW_TARGET_TEST_STACK;
  if (!own) return sharedTestStack();
  const info = readStackFile(own);
  if (!info) throw new Error(`no stack file at ${own} (IDFLOW_TARGET_TEST_STACK)`);
  return info;
}

export function iamEndpoint(): string {
  return testStack().iam.endpoint;
}

/**
 * The SCIM app the suites judge: your own with IDFLOW_SCIM_URL and IDFLOW_SCIM_TOKEN (see docs/targets.md,
 * "SCIM compatibility"), else the stack's scim2-server.
 */
export function scimBase(): string {
  return process.env.IDFLOW_SCIM_URL?.replace(/\/$/, '') ?? testStack().scim.baseUrl;
}

export function scimToken(): string {
  return process.env.IDFLOW_SCIM_TOKEN ?? testStack().scim.token;
}

/** A server of the user's own: nothing may be done to it beyond the suite's own prefixed records. */
export const OWN_SCIM_SERVER = process.env.IDFLOW_SCIM_URL !== undefined;

/** What the server declares in /ServiceProviderConfig (RFC 7643 §5): the suite skips only what it lacks, and says so. */
export async function scimCapabilities(): Promise<{ etag: boolean; filter: boolean; patch: boolean }> {
  const res = await fetch(`${scimBase()}/ServiceProviderConfig`, { headers: { Authorization: `Bearer ${scimToken()}`, Accept: 'application/scim+json' } });
  if (!res.ok) return { etag: false, filter: true, patch: true };
  const spc = (await res.json()) as Record<string, { supported?: boolean } | undefined>;
  return { etag: spc.etag?.supported === true, filter: spc.filter?.supported !== false, patch: spc.patch?.supported !== false };
}

export async function resetMoto(): Promise<void> {
  const res = await fetch(`${iamEndpoint()}/moto-api/reset`, { method: 'POST' });
  if (!res.ok) throw new Error(`moto reset failed: ${res.status}`);
}

export function randomId(n = 4): string {
  return randomBytes(n).toString('hex');
}

/** Target configs through the real schema, so defaults are what a user would get. */
export function iamTargetConfig(endpoint: string, groupsMap: Record<string, string | string[]> = {}, attributes: string[] = []): IamTargetConfig {
  const cfg = PLUGINS.schema.parse({
    version: 1,
    targets: { aws: { type: 'aws-iam', endpoint, path: '/idflow/', userName: 'userPrincipalName', attributes: Object.fromEntries(attributes.map((a) => [a, 'displayName'])), groups: { createMissing: true, map: groupsMap } } },
  });
  return cfg.targets.aws as IamTargetConfig;
}

export function scimTargetConfig(baseUrl: string, tokenEnv: string, groupsMap: Record<string, string | string[]> = {}, attributes: string[] = []): ScimTargetConfig {
  const cfg = PLUGINS.schema.parse({
    version: 1,
    targets: { app: { type: 'scim', baseUrl, tokenEnv, userName: 'userPrincipalName', attributes: Object.fromEntries(attributes.map((a) => [a, 'displayName'])), groups: { createMissing: true, map: groupsMap } } },
  });
  return cfg.targets.app as ScimTargetConfig;
}

// ------------------------------------------------------------------ IAM wire recording and paging

export interface IamCall {
  command: string;
  input: Record<string, unknown>;
}

/** Records every SDK command the client sends (once per command, whatever the retries). */
export function recordIam(client: IAMClient): IamCall[] {
  const calls: IamCall[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      calls.push({ command: String(context.commandName).replace(/Command$/, ''), input: JSON.parse(JSON.stringify(args.input ?? {})) });
      return next(args);
    },
    { step: 'initialize', name: 'idflowTestRecorder', priority: 'high' },
  );
  return calls;
}

/**
 * moto ignores MaxItems/Marker and returns everything at once. This middleware cuts every list
 * answer to `size` items per page and hands out a Marker, so the connector's real Marker loop runs:
 * the request still goes to moto, then the answer is sliced at the offset the Marker names.
 */
export function forceIamPages(client: IAMClient, size: number): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      const name = String(context.commandName);
      if (!(name.startsWith('List') || name === 'GetAccountAuthorizationDetailsCommand' || name === 'GetGroupCommand')) return result;
      const output = result.output as unknown as Record<string, unknown>;
      const keys = Object.keys(output).filter((k) => Array.isArray(output[k]) && k !== 'GroupList');
      const flat = keys.flatMap((k) => (output[k] as unknown[]).map((item) => ({ k, item })));
      const marker = (args.input as { Marker?: string }).Marker;
      const offset = marker ? Number(marker.replace('page:', '')) : 0;
      const slice = flat.slice(offset, offset + size);
      for (const k of keys) output[k] = slice.filter((e) => e.k === k).map((e) => e.item);
      const truncated = offset + size < flat.length;
      output.IsTruncated = truncated;
      output.Marker = truncated ? `page:${offset + size}` : undefined;
      return result;
    },
    { step: 'initialize', name: 'idflowTestPaging', priority: 'low' },
  );
}

// ------------------------------------------------------------------ SCIM wire recording

export interface ScimCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: unknown;
  headers: Record<string, string>;
  status: number;
}

/** A fetch that records each request (and its status) on its way to the real server. */
export function recordingFetch(calls: ScimCall[], before?: (call: Omit<ScimCall, 'status'>) => Promise<void> | void): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
    const call = {
      method: init?.method ?? 'GET',
      path: url.pathname.replace(/^.*?\/v2/, ''),
      query: Object.fromEntries(url.searchParams.entries()),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      headers,
    };
    await before?.(call);
    const res = await fetch(input, init);
    calls.push({ ...call, status: res.status });
    return res;
  };
}

export async function scimRaw(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> | null; etag: string | null }> {
  const res = await fetch(`${scimBase()}${path}`, {
    method,
    headers: { Authorization: `Bearer ${scimToken()}`, 'Content-Type': 'application/scim+json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null, etag: res.headers.get('etag') };
}

/** Every resource of a type, paged (the raw server, not the connector). */
export async function scimAll(resource: 'Users' | 'Groups', extra = ''): Promise<Record<string, unknown>[]> {
  const all: Record<string, unknown>[] = [];
  for (let start = 1; ; ) {
    const r = await scimRaw('GET', `/${resource}?startIndex=${start}&count=200${extra}`);
    const items = (r.body?.Resources as Record<string, unknown>[] | undefined) ?? [];
    all.push(...items);
    if (items.length === 0 || start - 1 + items.length >= Number(r.body?.totalResults ?? 0)) break;
    start += items.length;
  }
  return all;
}

/** Deletes what a test made: users and groups whose names start with the prefix. */
export async function scimCleanup(prefix: string): Promise<void> {
  for (const g of await scimAll('Groups', '&excludedAttributes=members')) {
    if (String(g.displayName).toLowerCase().startsWith(prefix.toLowerCase())) await scimRaw('DELETE', `/Groups/${g.id}`);
  }
  for (const u of await scimAll('Users', '&attributes=userName')) {
    if (String(u.userName).toLowerCase().startsWith(prefix.toLowerCase())) await scimRaw('DELETE', `/Users/${u.id}`);
  }
}

// ------------------------------------------------------------------ a fault-injecting HTTP proxy

export interface ProxyRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  body: string;
}

export interface Proxy {
  url: string;
  requests: ProxyRequest[];
  close(): Promise<void>;
}

/**
 * A local proxy in front of a real server: `intercept` may answer a request itself (a fault), or change
 * its `url` or `body` before it is forwarded (a quirk); `rewrite` may change the real answer's body.
 */
export async function startProxy(
  upstream: string,
  intercept: (req: ProxyRequest, index: number) => FakeResponse | undefined,
  rewrite?: (req: ProxyRequest, status: number, body: string) => string,
): Promise<Proxy> {
  const target = new URL(upstream);
  const requests: ProxyRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const info: ProxyRequest = { method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(info);
      const fake = intercept(info, requests.length - 1);
      if (fake) {
        res.writeHead(fake.status, { 'content-type': 'text/xml', ...fake.headers });
        res.end(fake.body);
        return;
      }
      // To an https app (your own, IDFLOW_SCIM_URL) over https: its token never crosses the network in clear.
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const up = send(
        // `intercept` may have rewritten the request's url or body (a quirk layer): the length follows the body.
        { host: target.hostname, port: target.port || (target.protocol === 'https:' ? 443 : 80), method: info.method, path: info.url, headers: { ...req.headers, host: target.host, ...(info.body ? { 'content-length': String(Buffer.byteLength(info.body)) } : {}) } },
        (upRes) => {
          const out: Buffer[] = [];
          upRes.on('data', (c: Buffer) => out.push(c));
          upRes.on('end', () => {
            let body = Buffer.concat(out).toString('utf8');
            if (rewrite) body = rewrite(info, upRes.statusCode ?? 0, body);
            const headers = { ...upRes.headers };
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            res.writeHead(upRes.statusCode ?? 502, { ...headers, 'content-length': Buffer.byteLength(body) });
            res.end(body);
          });
        },
      );
      up.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      up.end(info.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  // Keep the path of the upstream (SCIM's /v2), so the proxy URL can replace the base URL as is.
  return {
    url: `http://127.0.0.1:${port}${target.pathname.replace(/\/$/, '')}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** The awsQuery action of a request to the IAM endpoint. */
export function iamAction(req: ProxyRequest): string {
  return new URLSearchParams(req.body).get('Action') ?? '';
}

export function iamErrorXml(code: string, message: string): string {
  return `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>req-${randomId()}</RequestId></ErrorResponse>`;
}

// ------------------------------------------------------------------ failures

/** Awaits a promise that must fail with a Temporal ApplicationFailure, and returns it. */
export async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApplicationFailure) return err;
    throw new Error(`expected an ApplicationFailure, got ${(err as Error)?.name}: ${(err as Error)?.message}`);
  }
  throw new Error('expected a failure, but the call succeeded');
}
