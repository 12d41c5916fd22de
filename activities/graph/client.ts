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

export function createGraphClient(settings: GraphSettings, credential: TokenCredential): Client {
  const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: ['https://graph.microsoft.com/.default'] });
  return Client.initWithMiddleware({
    baseUrl: settings.baseUrl.endsWith('/') ? settings.baseUrl : `${settings.baseUrl}/`,
    authProvider,
    customHosts: new Set(settings.trustedHosts),
  });
}

export type GraphErrorKind = 'notFound' | 'authentication' | 'authorization' | 'throttled' | 'badRequest' | 'unavailable' | 'unknown';

/** Graph failures as typed, non-secret Temporal failures carrying the request id. */
export function toGraphFailure(err: unknown, what: string): Error {
  if (err instanceof GraphError) {
    if (err.statusCode === 410) {
      return ApplicationFailure.create({ type: 'Graph.resyncRequired', message: `Graph ${what}: the delta token expired (410 Gone); a full resync is required (request-id ${err.requestId ?? 'none'})`, nonRetryable: true });
    }
    const kind = graphErrorKind(err.statusCode);
    const retryable = kind === 'throttled' || kind === 'unavailable' || kind === 'unknown';
    return ApplicationFailure.create({
      type: `Graph.${kind}`,
      message: `Graph ${what} failed: ${err.statusCode} ${err.code ?? ''} ${err.message} (request-id ${err.requestId ?? 'none'})`.replace(/\s+/g, ' '),
      nonRetryable: !retryable,
      details: [{ statusCode: err.statusCode, code: err.code, requestId: err.requestId }],
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  if (/AADSTS|invalid_client|unauthorized_client|CredentialUnavailable|authentication/i.test(message)) {
    return ApplicationFailure.create({ type: 'Graph.authentication', message: `Graph ${what}: authentication failed: ${message.split('\n')[0]}`, nonRetryable: true });
  }
  return err instanceof Error ? err : new Error(message);
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
