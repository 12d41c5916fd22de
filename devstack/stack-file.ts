import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { caBundle } from './trust';

/** Where a running local stack can be reached. Written by `idflow dev`; read by scripts and tests. */
export interface StackInfo {
  temporal: { address: string; namespace: string; uiUrl: string | null };
  graph: { baseUrl: string; authorityHost: string; tenantId: string; clientId: string; clientSecret: string; caFile: string; clientCertificatePath: string };
  iam: { endpoint: string; region: string };
  scim: { baseUrl: string; token: string };
  /** Payload encryption: the key variables every idflow process gets, and the codec server for the UI and CLI. */
  encryption: { env: Record<string, string>; codecUrl: string | null; codecToken: string };
  config: string;
  pids: Record<string, number>;
}

export const STATE_DIR = resolve(process.env.IDFLOW_STATE_DIR ?? '.idflow');
export const STACK_FILE = join(STATE_DIR, 'stack.json');

export function writeStackFile(info: StackInfo, file = STACK_FILE): void {
  mkdirSync(dirname(file), { recursive: true });
  // It holds the local stack's client secret and SCIM token: readable by the owner only.
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

export function readStackFile(file = STACK_FILE): StackInfo | null {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as StackInfo;
}

/** The environment a worker or command needs to use the local stack, in the SDKs' own variable names. */
export function stackEnv(info: StackInfo): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: info.temporal.address,
    TEMPORAL_NAMESPACE: info.temporal.namespace,
    AZURE_TENANT_ID: info.graph.tenantId,
    AZURE_CLIENT_ID: info.graph.clientId,
    AZURE_CLIENT_SECRET: info.graph.clientSecret,
    AZURE_AUTHORITY_HOST: info.graph.authorityHost,
    IDFLOW_GRAPH_URL: info.graph.baseUrl,
    IDFLOW_GRAPH_TRUSTED_HOST: new URL(info.graph.baseUrl).hostname,
    NODE_EXTRA_CA_CERTS: caBundle(info.graph.caFile),
    AWS_ENDPOINT_URL_IAM: info.iam.endpoint,
    IDFLOW_IAM_ENDPOINT: info.iam.endpoint,
    AWS_REGION: info.iam.region,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    IDFLOW_SCIM_URL: info.scim.baseUrl,
    IDFLOW_SCIM_TOKEN: info.scim.token,
    IDFLOW_CONFIG: info.config,
    ...(info.temporal.uiUrl ? { IDFLOW_TEMPORAL_UI_URL: info.temporal.uiUrl } : {}),
    ...info.encryption.env,
  };
}

/**
 * Lets a command find the local stack: variables already set win, so the same command works against
 * a real cluster. NODE_EXTRA_CA_CERTS only counts at process start; bin/idflow re-executes for it.
 * Trust is the one exception: the local CA is always added, since the variable is often set already.
 */
export function applyStackEnv(env: NodeJS.ProcessEnv = process.env, file = STACK_FILE): StackInfo | null {
  const info = readStackFile(file);
  if (!info || env.TEMPORAL_ADDRESS) return info;
  const own = env.IDFLOW_ENCRYPTION_KEYS !== undefined || env.IDFLOW_ENCRYPTION_KEY_FILE !== undefined;
  for (const [k, v] of Object.entries(stackEnv(info))) {
    // Keys configured by the operator win; both key sources at once is an error by design.
    if (own && k.startsWith('IDFLOW_ENCRYPTION_')) continue;
    if (env[k] === undefined || k === 'NODE_EXTRA_CA_CERTS') env[k] = v;
  }
  return info;
}
