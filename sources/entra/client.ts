import { ClientCertificateCredential, ClientSecretCredential, DefaultAzureCredential, type TokenCredential } from '@azure/identity';
import { Client, GraphError } from '@microsoft/microsoft-graph-client';
import { TokenCredentialAuthenticationProvider } from '@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials';
import { ApplicationFailure } from '@temporalio/common';

export interface GraphSettings {
  /** e.g. https://graph.microsoft.com/ or the simulator's URL. */
  baseUrl: string;
  /** Extra hosts allowed to receive the bearer token (the simulator's). */
  trustedHosts: string[];
}

/**
 * Credentials come from the Azure SDK's usual environment variables, never from config or workflow
 * input: AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH;
 * without either, managed or workload identity through DefaultAzureCredential.
 */
export function credentialFromEnv(env: NodeJS.ProcessEnv = process.env): TokenCredential {
  const authorityHost = env.AZURE_AUTHORITY_HOST;
  // A non-Microsoft authority (the simulator) cannot answer Entra's instance discovery.
  const local = authorityHost !== undefined && !/\.microsoftonline\.(com|us|cn)|\.windows\.net/.test(authorityHost);
  const options = { authorityHost, disableInstanceDiscovery: local };
  const { AZURE_TENANT_ID: tenant, AZURE_CLIENT_ID: client } = env;
  if (tenant && client && env.AZURE_CLIENT_SECRET) return new ClientSecretCredential(tenant, client, env.AZURE_CLIENT_SECRET, options);
  if (tenant && client && env.AZURE_CLIENT_CERTIFICATE_PATH) {
    return new ClientCertificateCredential(tenant, client, { certificatePath: env.AZURE_CLIENT_CERTIFICATE_PATH }, options);
  }
  return new DefaultAzureCredential(options);
}

export interface GraphClientOptions {
  /**
   * Passed to every fetch the Graph client makes. Production needs none (trust a private CA with
   * NODE_EXTRA_CA_CERTS at process start); in-process tests pass `{ dispatcher }`, an undici agent
   * trusting the simulator's CA (test/simulator/trust.ts).
   */
  fetchOptions?: RequestInit;
}

export function createGraphClient(settings: GraphSettings, credential: TokenCredential, options: GraphClientOptions = {}): Client {
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: ['https://graph.microsoft.com/.default'] });
  return Client.initWithMiddleware({
    baseUrl: settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`,
    authProvider,
    customHosts: new Set(settings.trustedHosts),
    ...(options.fetchOptions ? { fetchOptions: options.fetchOptions } : {}),
  });
}

export type GraphErrorKind = 'notFound' | 'authentication' | 'authorization' | 'throttled' | 'badRequest' | 'unavailable' | 'unknown';

/** What a typed Graph failure carries in `details[0]`: never a token, a secret or a response body. */
export interface GraphFailureDetails {
  /** HTTP status; -1 when no response arrived (network error, or the token could not be obtained). */
  statusCode: number;
  code: string | null;
  /** Graph's request-id, for a support case with Microsoft. */
  requestId: string | null;
  retryAfterSeconds?: number;
}

/**
 * Graph failures as typed, non-secret Temporal failures carrying the request id:
 * - `Graph.resyncRequired` (non-retryable: start a new round): 410 Gone on a delta link (a reset), or
 *   any 4xx whose code says the sync state is gone: `syncStateNotFound` (a token older than 7 days,
 *   Microsoft answers 400), `resyncRequired`; Graph's own casing of these codes varies,
 * - `Graph.notFound` 404, `Graph.authentication` 401 or a token the authority refused (AADSTS…),
 *   `Graph.authorization` 403 (a permission is missing), `Graph.badRequest` other 4xx: non-retryable,
 * - `Graph.throttled` 429, `Graph.unavailable` 5xx or no response (network): retryable; when Graph
 *   sent Retry-After, Temporal's next attempt waits that long (`nextRetryDelay`).
 * The Graph client's RetryHandler has already retried 429/503/504 before a failure gets here.
 */
export function toGraphFailure(err: unknown, what: string): Error {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof GraphError) {
    const requestId = err.requestId ?? headerOf(err, 'request-id');
    const syncStateGone = err.statusCode >= 400 && err.statusCode < 500 && RESYNC_CODES.test(err.code ?? '');
    if (err.statusCode === 410 || syncStateGone) {
      const why = err.statusCode === 410 ? 'the delta token is no longer valid (410 Gone)' : `the delta token expired (${err.statusCode} ${err.code})`;
      return ApplicationFailure.create({
        type: 'Graph.resyncRequired',
        message: `Graph ${what}: ${why}; a full resync is required (request-id ${requestId ?? 'none'})`,
        nonRetryable: true,
        details: [{ statusCode: err.statusCode, code: err.code, requestId } satisfies GraphFailureDetails],
      });
    }
    if (err.statusCode <= 0) return noResponseFailure(err, what);
    const kind = graphErrorKind(err.statusCode);
    const retryable = kind === 'throttled' || kind === 'unavailable' || kind === 'unknown';
    const retryAfterSeconds = retryable ? retryAfterOf(headerOf(err, 'retry-after')) : undefined;
    const details: GraphFailureDetails = { statusCode: err.statusCode, code: err.code, requestId, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) };
    return ApplicationFailure.create({
      type: `Graph.${kind}`,
      message: `Graph ${what} failed: ${err.statusCode} ${err.code ?? ''} ${err.message} (request-id ${requestId ?? 'none'})`.replace(/\s+/g, ' '),
      nonRetryable: !retryable,
      details: [details],
      ...(retryAfterSeconds ? { nextRetryDelay: retryAfterSeconds * 1000 } : {}),
    });
  }
  return noResponseFailure(err, what);
}

/** Error codes meaning the delta's sync state is gone, whatever the status: only a new round helps. */
const RESYNC_CODES = /^(syncStateNotFound|syncStateInvalid|resyncRequired)$/i;

/** The authority refused the app (AADSTS…): retrying cannot help. */
const REFUSED = /AADSTS|invalid_client|unauthorized_client|invalid_scope|unsupported_grant_type/i;
/** No usable credential configured (checked after UNREACHABLE: an unreachable authority also says CredentialUnavailable). */
const NO_CREDENTIAL = /AuthenticationRequired|CredentialUnavailable|AuthenticationError/i;
/** The authority or Graph could not be reached (or its certificate is not trusted): may be transient. */
const UNREACHABLE = /endpoints_resolution_error|fetch failed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|socket hang up|network|timed? ?out|other side closed|UND_ERR/i;

/** No HTTP response from Graph: the credential failed, or the network did. */
function noResponseFailure(err: unknown, what: string): Error {
  // The Graph client wraps what fetch or the credential threw: as the message, or (an error from
  // another realm, e.g. undici's TypeError under jest) only as `body`.
  const inner = err instanceof GraphError && err.body && typeof err.body === 'object' ? (err.body as ErrorLike) : undefined;
  const outer = err as ErrorLike | undefined;
  const name = (err instanceof GraphError ? err.code : outer?.name) || inner?.name || '';
  const parts = [outer?.message, inner?.message, outer?.cause?.message, inner?.cause?.message, inner?.cause?.code].filter((x): x is string => typeof x === 'string' && x !== '');
  const message = parts.length ? [...new Set(parts)].join(': ') : String(err);
  // The AADSTS line says what Entra refused (7000215 wrong secret, 700016 unknown app…); it holds no secret.
  const aadsts = /AADSTS\d+:[^\r\n]*/.exec(message)?.[0];
  const first = `${name ? `${name}: ` : ''}${message.split('\n')[0]}${aadsts && !message.split('\n')[0]!.includes(aadsts) ? ` ${aadsts}` : ''}`.slice(0, 600);
  const details: GraphFailureDetails = { statusCode: -1, code: name || null, requestId: null };
  const authentication = () => ApplicationFailure.create({ type: 'Graph.authentication', message: `Graph ${what}: authentication failed: ${first}`, nonRetryable: true, details: [details] });
  if (REFUSED.test(message)) return authentication();
  if (UNREACHABLE.test(message)) {
    return ApplicationFailure.create({ type: 'Graph.unavailable', message: `Graph ${what}: no response (authority or Graph unreachable, or its certificate not trusted): ${first}`, nonRetryable: false, details: [details] });
  }
  if (NO_CREDENTIAL.test(`${name} ${message}`)) return authentication();
  return err instanceof Error ? err : new Error(message);
}

interface ErrorLike {
  name?: string;
  message?: string;
  code?: string;
  cause?: ErrorLike;
}

function headerOf(err: GraphError, name: string): string | null {
  const headers = err.headers as Headers | undefined;
  return typeof headers?.get === 'function' ? headers.get(name) : null;
}

/** Retry-After as seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterOf(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

export function graphErrorKind(status: number): GraphErrorKind {
  if (status === 404) return 'notFound';
  if (status === 401) return 'authentication';
  if (status === 403) return 'authorization';
  if (status === 429) return 'throttled';
  if (status === 503 || status === 504 || status === 502 || status === 500) return 'unavailable';
  if (status >= 400 && status < 500) return 'badRequest';
  return 'unknown';
}
