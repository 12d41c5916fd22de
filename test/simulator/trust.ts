/**
 * Trusting the simulator's local CA inside an already running Node process (tests run in-process, in band).
 *
 * NODE_EXTRA_CA_CERTS is read only when Node starts, so it cannot help here. Two clients, two mechanisms:
 * - @azure/identity (core-rest-pipeline, node:https): the credential option `tlsOptions: { ca }`.
 * - @microsoft/microsoft-graph-client calls the global `fetch` (Node's bundled undici). undici's fetch accepts a
 *   per-request `dispatcher`; the Graph client passes `fetchOptions` through to fetch, so we hand it an undici
 *   Agent whose TLS connector trusts the CA. Node 20 does not export undici's Agent class, so we take the
 *   constructor of undici's global dispatcher (created on the first fetch), which lives on the *outer* realm's
 *   globalThis: under jest the test runs in a vm context, and `fetch.constructor` (the outer realm's Function)
 *   gives that realm's globalThis.
 * Outside tests, start Node with NODE_EXTRA_CA_CERTS=<caFile> instead (covers both clients).
 */
import * as tls from 'node:tls';

const DISPATCHER = Symbol.for('undici.globalDispatcher.1');

type AgentCtor = new (opts: { connect: tls.ConnectionOptions }) => object;

let agentCtor: AgentCtor | null = null;

async function undiciAgentClass(): Promise<AgentCtor> {
  if (agentCtor) return agentCtor;
  // The first fetch makes undici install its global dispatcher (a data: URL needs no network).
  await fetch('data:,').then((r) => r.arrayBuffer()).catch(() => undefined);
  const outerGlobal = (fetch as unknown as { constructor: FunctionConstructor }).constructor('return globalThis')() as Record<symbol, unknown>;
  const dispatcher = outerGlobal[DISPATCHER] ?? (globalThis as unknown as Record<symbol, unknown>)[DISPATCHER];
  if (!dispatcher || typeof (dispatcher as object).constructor !== 'function') {
    throw new Error('cannot find undici global dispatcher; run the process with NODE_EXTRA_CA_CERTS=<caFile> instead');
  }
  agentCtor = (dispatcher as object).constructor as AgentCtor;
  return agentCtor;
}

/** An undici dispatcher (for fetch's `dispatcher` option) that trusts the given CA in addition to the system roots. */
export async function trustingDispatcher(caPem: string): Promise<object> {
  const Agent = await undiciAgentClass();
  return new Agent({ connect: { ca: [...tls.rootCertificates, caPem] } });
}

/** fetchOptions for Client.initWithMiddleware({ fetchOptions }) that make the Graph client trust the CA. */
export async function graphFetchOptions(caPem: string): Promise<Record<string, unknown>> {
  return { dispatcher: await trustingDispatcher(caPem) };
}

/** Credential options for @azure/identity credentials against the simulator. */
export function credentialOptions(authorityHost: string, caPem: string): { authorityHost: string; disableInstanceDiscovery: true; tlsOptions: { ca: string } } {
  return { authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: caPem } };
}
