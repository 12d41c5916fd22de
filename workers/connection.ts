import { readFileSync } from 'node:fs';

/**
 * Temporal connection settings the way the Temporal ecosystem names them, so the same worker runs
 * against the dev server, a self-hosted cluster (mTLS) or Temporal Cloud (API key).
 */
export interface TemporalSettings {
  address: string;
  namespace: string;
  taskQueue: string;
  tls?: { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
  apiKey?: string;
}

export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const read = (name: string) => {
    const path = env[name];
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${name}=${path} cannot be read: ${(err as NodeJS.ErrnoException).code}`);
    }
  };
  const crt = read('TEMPORAL_TLS_CLIENT_CERT_PATH');
  const key = read('TEMPORAL_TLS_CLIENT_KEY_PATH');
  if ((crt && !key) || (!crt && key)) throw new Error('TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together');
  const ca = read('TEMPORAL_TLS_SERVER_CA_CERT_PATH');
  const apiKey = env.TEMPORAL_API_KEY || undefined;
  const tlsWanted = env.TEMPORAL_TLS === 'true' || Boolean(crt || ca || apiKey);
  return {
    address: env.TEMPORAL_ADDRESS ?? 'localhost:7233',
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: env.IDFLOW_TASK_QUEUE ?? 'idflow',
    apiKey,
    tls: tlsWanted
      ? {
          serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME || undefined,
          serverRootCACertificate: ca,
          clientCertPair: crt && key ? { crt, key } : undefined,
        }
      : undefined,
  };
}
