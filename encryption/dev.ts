import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CODEC_TOKEN_ENV } from './cli';
import { ensureDevKeyFile, KEY_FILE_ENV, KEYS_ENV } from './keys';

/**
 * Encryption for the local stack (`idflow dev`, the test stack): the key variables for every idflow
 * process, and the codec server's token. Keys already configured in `env` win; otherwise a
 * development key file in the state directory is created once and reused (the dev server's SQLite
 * database outlives a single run).
 */
export function devEncryption(stateDir: string, env: NodeJS.ProcessEnv = process.env): { env: Record<string, string>; codecToken: string } {
  const keyEnv: Record<string, string> =
    env[KEYS_ENV] !== undefined ? { [KEYS_ENV]: env[KEYS_ENV] } : env[KEY_FILE_ENV] !== undefined ? { [KEY_FILE_ENV]: env[KEY_FILE_ENV] } : { [KEY_FILE_ENV]: ensureDevKeyFile(join(stateDir, 'encryption-keys.json')) };
  return { env: keyEnv, codecToken: env[CODEC_TOKEN_ENV] || randomBytes(24).toString('base64url') };
}

/**
 * Arguments for `idflow codec-server` in the local stack: loopback only, CORS for the dev UI on
 * 127.0.0.1 and localhost, and the development-only trust of that origin (the dev UI sends no token).
 * Start it with `{ ...env, IDFLOW_CODEC_TOKEN: codecToken }`.
 */
export function devCodecServerArgs(opts: { port: number; uiPort: number }): string[] {
  return [
    'codec-server',
    '--host', '127.0.0.1',
    '--port', String(opts.port),
    '--origin', `http://127.0.0.1:${opts.uiPort}`, `http://localhost:${opts.uiPort}`,
    '--dev-trust-loopback-origin',
  ];
}
