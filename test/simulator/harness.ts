/* eslint-disable @typescript-eslint/no-explicit-any -- test helpers hand back parsed JSON */
/** Shared helpers for the simulator tests: start a simulator, real Graph/identity clients, raw HTTPS calls. */
import { ClientCertificateCredential, ClientSecretCredential, TokenCredential } from '@azure/identity';
import { Client } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { RunningSimulator, SimulatorOptions, startSimulator } from '../../simulator';
import { credentialOptions, trustingDispatcher } from './trust';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

/** One state dir for all test files (the CA is generated once; concurrent starts are serialised by a lock file). */
export const SHARED_STATE_DIR = path.join(os.tmpdir(), `idflow-simulator-test-state-${process.getuid?.() ?? 'u'}`);

export interface Harness {
  sim: RunningSimulator;
  credential: TokenCredential;
  graph: Client;
  /** Raw HTTPS request with the app's token unless `token: null`. */
  raw: (method: string, p: string, o?: RawOptions) => Promise<RawResponse>;
  close: () => Promise<void>;
}
export interface RawOptions {
  token?: string | null;
  headers?: Record<string, string>;
  body?: unknown;
  form?: Record<string, string>;
}
export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

export function rawRequest(sim: RunningSimulator, method: string, p: string, o: RawOptions = {}, token?: string): Promise<RawResponse> {
  const url = new URL(p.startsWith('https://') ? p : `${sim.url}${p}`);
  const headers: Record<string, string> = { ...(o.headers ?? {}) };
  let body: string | undefined;
  if (o.form) {
    body = new URLSearchParams(o.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    headers['content-type'] = 'application/json';
  }
  const tok = o.token === undefined ? token : o.token;
  if (tok) headers.authorization = `Bearer ${tok}`;
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers, ca: sim.caPem, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown = undefined;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export async function graphClientFor(sim: RunningSimulator, credential: TokenCredential): Promise<{ client: Client; dispatcher: object }> {
  const dispatcher = await trustingDispatcher(sim.caPem);
  const client = Client.initWithMiddleware({
    baseUrl: sim.graphBaseUrl,
    authProvider: new TokenCredentialAuthenticationProvider(credential, { scopes: [GRAPH_SCOPE] }),
    customHosts: new Set([new URL(sim.url).hostname]),
    fetchOptions: { dispatcher } as unknown as RequestInit,
  });
  return { client, dispatcher };
}

export function secretCredential(sim: RunningSimulator, secret = sim.clientSecret): ClientSecretCredential {
  return new ClientSecretCredential(sim.tenantId, sim.clientId, secret, credentialOptions(sim.authorityHost, sim.caPem));
}

export function certificateCredential(sim: RunningSimulator, certificatePath = sim.clientCertificatePath): ClientCertificateCredential {
  return new ClientCertificateCredential(sim.tenantId, sim.clientId, { certificatePath }, credentialOptions(sim.authorityHost, sim.caPem));
}

export async function startHarness(opts: Partial<SimulatorOptions> = {}): Promise<Harness> {
  const sim = await startSimulator({ stateDir: SHARED_STATE_DIR, ...opts });
  const credential = secretCredential(sim);
  const { client, dispatcher } = await graphClientFor(sim, credential);
  const token = sim.issueToken();
  return {
    sim,
    credential,
    graph: client,
    raw: (method, p, o = {}) => rawRequest(sim, method, p, o, token),
    close: async () => {
      await sim.close();
      await (dispatcher as { close?: () => Promise<void> }).close?.();
    },
  };
}

/** Follow @odata.nextLink with raw requests (same headers on every page). */
export async function collectPages(h: Harness, first: string, headers: Record<string, string> = {}): Promise<{ items: any[]; pages: number; last: any }> {
  const items: any[] = [];
  let url: string | undefined = first;
  let pages = 0;
  let last: any;
  while (url) {
    const r = await h.raw('GET', url, { headers });
    if (r.status !== 200) throw new Error(`GET ${url} -> ${r.status} ${r.text}`);
    pages++;
    items.push(...r.json.value);
    last = r.json;
    url = r.json['@odata.nextLink'];
  }
  return { items, pages, last };
}
