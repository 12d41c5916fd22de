import { createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Encryption keys for Temporal payloads (docs/encryption.md).
 *
 * Sources, in the environment of every idflow process (worker, CLI commands, codec server, tests):
 * - `IDFLOW_ENCRYPTION_KEYS`: comma-separated `keyId:base64key` entries; the first is current.
 * - `IDFLOW_ENCRYPTION_KEY_FILE`: a JSON file `{ "current": "k2", "keys": { "k1": "<base64>", "k2": "<base64>" } }`.
 *
 * Key material never appears in an error message, a log line or `util.inspect` output: keys are
 * held as `KeyObject`s, which print as `SecretKeyObject { type: 'secret' }`.
 */

export const KEYS_ENV = 'IDFLOW_ENCRYPTION_KEYS';
export const KEY_FILE_ENV = 'IDFLOW_ENCRYPTION_KEY_FILE';
export const MODE_ENV = 'IDFLOW_MODE';

export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const GENERATE_HINT = 'generate one with: openssl rand -base64 32';

/** A misconfigured key source or mode. The message names the variable or file, never key material. */
export class EncryptionConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionConfigError';
  }
}

export type IdflowMode = 'development' | 'production';

export interface Keyring {
  /** Key id used for every new payload. */
  readonly currentKeyId: string;
  /** All key ids that can decrypt, current first. */
  readonly keyIds: readonly string[];
  /** Where the keys came from, for messages (`IDFLOW_ENCRYPTION_KEYS` or `IDFLOW_ENCRYPTION_KEY_FILE=/path`). */
  readonly source: string;
  key(keyId: string): KeyObject | undefined;
}

/** The mode from `IDFLOW_MODE`: unset or `development` → development; `production`; anything else is an error. */
export function idflowMode(env: NodeJS.ProcessEnv = process.env): IdflowMode {
  const raw = env[MODE_ENV];
  if (raw === undefined || raw === '' || raw === 'development') return 'development';
  if (raw === 'production') return 'production';
  throw new EncryptionConfigError(`${MODE_ENV}=${JSON.stringify(raw)} is not a mode; use "production" or "development" (the default)`);
}

/**
 * The keyring configured in `env`, or undefined when no key source is set in development mode
 * (encryption off). Throws {@link EncryptionConfigError} for any invalid configuration and when
 * production mode has no key.
 */
export function loadKeyring(env: NodeJS.ProcessEnv = process.env): Keyring | undefined {
  const mode = idflowMode(env);
  const list = env[KEYS_ENV];
  const file = env[KEY_FILE_ENV];
  if (list !== undefined && file !== undefined) {
    throw new EncryptionConfigError(`both ${KEYS_ENV} and ${KEY_FILE_ENV} are set; set only one of them`);
  }
  if (list !== undefined) return parseKeyList(list, KEYS_ENV);
  if (file !== undefined) return readKeyFile(file);
  if (mode === 'production') {
    throw new EncryptionConfigError(
      `${MODE_ENV}=production requires payload encryption, but no key is configured: set ${KEYS_ENV} ("keyId:base64key", current key first) ` +
        `or ${KEY_FILE_ENV} (path to a JSON key file); see docs/encryption.md`,
    );
  }
  return undefined;
}

/** Parses `keyId:base64key[,keyId:base64key...]`; the first entry is current. */
export function parseKeyList(value: string, source = KEYS_ENV): Keyring {
  if (value.trim() === '') {
    throw new EncryptionConfigError(`${source} is set but empty; give "keyId:base64key" entries, or unset it to run without encryption (development only)`);
  }
  const entries: Array<[string, string]> = value.split(',').map((raw, i) => {
    const entry = raw.trim();
    const colon = entry.indexOf(':');
    if (colon < 0) throw new EncryptionConfigError(`${source}: entry ${i + 1} is not "keyId:base64key"`);
    return [entry.slice(0, colon).trim(), entry.slice(colon + 1).trim()];
  });
  return buildKeyring(entries[0]![0], entries, source);
}

/**
 * Reads a JSON key file. Refuses a file that others can read or write, or that its group can write
 * (mode & 0o027): like ssh with private keys. Group read is allowed for shared-group deployments
 * (Kubernetes `fsGroup`, defaultMode 0440).
 */
export function readKeyFile(path: string): Keyring {
  const source = `${KEY_FILE_ENV}=${path}`;
  if (path.trim() === '') throw new EncryptionConfigError(`${KEY_FILE_ENV} is set but empty; give the path of a JSON key file, or unset it`);
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const perms = statSync(path).mode & 0o777;
      if ((perms & 0o027) !== 0) {
        throw new EncryptionConfigError(
          `${source}: the key file has mode ${perms.toString(8).padStart(3, '0')}; it must not be readable or writable by others nor writable by its group (chmod 600 ${path})`,
        );
      }
    }
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof EncryptionConfigError) throw err;
    throw new EncryptionConfigError(`${source}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EncryptionConfigError(`${source}: the key file is not valid JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new EncryptionConfigError(`${source}: expected an object { "current": "<keyId>", "keys": { "<keyId>": "<base64 key>" } }`);
  }
  const { current, keys } = parsed as { current?: unknown; keys?: unknown };
  if (typeof current !== 'string') throw new EncryptionConfigError(`${source}: "current" must be a key id string`);
  if (typeof keys !== 'object' || keys === null || Array.isArray(keys)) {
    throw new EncryptionConfigError(`${source}: "keys" must be an object mapping key ids to base64 keys`);
  }
  const entries = Object.entries(keys as Record<string, unknown>).map(([id, k]): [string, string] => {
    if (typeof k !== 'string') throw new EncryptionConfigError(`${source}: key "${safeId(id)}" must be a base64 string`);
    return [id, k];
  });
  if (entries.length === 0) throw new EncryptionConfigError(`${source}: "keys" is empty`);
  return buildKeyring(current, entries, source);
}

/** A keyring from raw keys (tests, tools). `keys` values are 32-byte Buffers or base64 strings. */
export function createKeyring(opts: { current: string; keys: Record<string, Uint8Array | string>; source?: string }): Keyring {
  const source = opts.source ?? 'keyring';
  const entries = Object.entries(opts.keys).map(([id, k]): [string, string] => [id, typeof k === 'string' ? k : Buffer.from(k).toString('base64')]);
  return buildKeyring(opts.current, entries, source);
}

function buildKeyring(current: string, entries: Array<[string, string]>, source: string): Keyring {
  const keys = new Map<string, KeyObject>();
  for (const [id, b64] of entries) {
    if (!KEY_ID.test(id)) {
      throw new EncryptionConfigError(`${source}: key id "${safeId(id)}" is invalid; use 1-64 characters A-Z a-z 0-9 . _ - starting with a letter or digit`);
    }
    if (keys.has(id)) throw new EncryptionConfigError(`${source}: key id "${id}" appears more than once`);
    keys.set(id, decodeKey(id, b64, source));
  }
  if (!keys.has(current)) {
    throw new EncryptionConfigError(`${source}: the current key id "${safeId(current)}" is not among the keys (${[...keys.keys()].join(', ')})`);
  }
  const keyIds = [current, ...[...keys.keys()].filter((id) => id !== current)];
  return Object.freeze({
    currentKeyId: current,
    keyIds: Object.freeze(keyIds),
    source,
    key: (id: string) => keys.get(id),
  });
}

function decodeKey(id: string, b64: string, source: string): KeyObject {
  const bytes = strictBase64(b64);
  if (!bytes) throw new EncryptionConfigError(`${source}: key "${id}" is not valid base64 (${GENERATE_HINT})`);
  try {
    if (bytes.length !== KEY_BYTES) {
      throw new EncryptionConfigError(`${source}: key "${id}" is ${bytes.length} bytes; AES-256 needs exactly ${KEY_BYTES} bytes (${GENERATE_HINT})`);
    }
    if (bytes.every((b) => b === bytes[0])) {
      throw new EncryptionConfigError(`${source}: key "${id}" is a constant byte pattern, not a random key (${GENERATE_HINT})`);
    }
    return createSecretKey(bytes);
  } finally {
    bytes.fill(0);
  }
}

/** Standard or URL-safe base64, padded or not; undefined for anything else (Buffer.from alone skips junk). */
function strictBase64(text: string): Buffer | undefined {
  const body = text.replace(/={1,2}$/, '');
  const variant = /^[A-Za-z0-9+/]+$/.test(body) ? 'base64' : /^[A-Za-z0-9_-]+$/.test(body) ? 'base64url' : undefined;
  if (!variant || body.length % 4 === 1) return undefined;
  const bytes = Buffer.from(body, variant);
  if (bytes.toString(variant).replace(/=+$/, '') !== body) {
    bytes.fill(0);
    return undefined;
  }
  return bytes;
}

/** Shows at most a short, printable prefix of an id that failed validation (it could be a pasted key). */
function safeId(id: string): string {
  const printable = id.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > 16 ? `${printable.slice(0, 8)}…` : printable;
}

/** A new random 32-byte key, base64. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64');
}

/** A key id from today's date, e.g. `k20261115`, with a suffix when taken. */
export function newKeyId(taken: Iterable<string> = [], now = new Date()): string {
  const used = new Set(taken);
  const base = `k${now.toISOString().slice(0, 10).replace(/-/g, '')}`;
  if (!used.has(base)) return base;
  for (let i = 2; ; i++) if (!used.has(`${base}-${i}`)) return `${base}-${i}`;
}

export interface KeyFileContent {
  current: string;
  keys: Record<string, string>;
}

/** Writes a key file atomically with mode 600. */
export function writeKeyFile(path: string, content: KeyFileContent): void {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
}

/**
 * Adds a new random key to a key file and makes it current (unless `keepCurrent`, for a staged
 * roll-out); earlier keys stay for decryption. Creates the file when missing. Returns the new key id.
 */
export function rotateKeyFile(path: string, keyId?: string, opts: { keepCurrent?: boolean } = {}): string {
  let content: KeyFileContent = { current: '', keys: {} };
  if (existsSync(path)) {
    readKeyFile(path); // validates permissions and every key first
    content = JSON.parse(readFileSync(path, 'utf8')) as KeyFileContent;
  }
  const id = keyId ?? newKeyId(Object.keys(content.keys));
  if (!KEY_ID.test(id)) throw new EncryptionConfigError(`key id "${safeId(id)}" is invalid; use 1-64 characters A-Z a-z 0-9 . _ -`);
  if (content.keys[id] !== undefined) throw new EncryptionConfigError(`${path}: key id "${id}" already exists`);
  const keepCurrent = opts.keepCurrent === true && content.current !== '';
  writeKeyFile(path, { current: keepCurrent ? content.current : id, keys: { ...content.keys, [id]: generateKey() } });
  return id;
}

/** Makes an existing key of a key file current (second step of a staged rotation). */
export function promoteKeyFile(path: string, keyId: string): void {
  const keyring = readKeyFile(path);
  if (!keyring.key(keyId)) throw new EncryptionConfigError(`${path}: no key "${safeId(keyId)}" (keys: ${keyring.keyIds.join(', ')})`);
  const content = JSON.parse(readFileSync(path, 'utf8')) as KeyFileContent;
  writeKeyFile(path, { ...content, current: keyId });
}

/**
 * The development key file of the local stack (`idflow dev`, tests): created with one random key on
 * first use and kept, since the dev server's SQLite database outlives a single run.
 */
export function ensureDevKeyFile(path: string): string {
  if (!existsSync(path)) rotateKeyFile(path, 'dev1');
  else readKeyFile(path); // fail early on a damaged or too-open file
  return path;
}

/** One line for start-up logs: which keys are in use, or that encryption is off. Never key material. */
export function encryptionSummary(env: NodeJS.ProcessEnv = process.env): string {
  const keyring = loadKeyring(env);
  if (!keyring) return `payload encryption off (development mode, no ${KEYS_ENV} or ${KEY_FILE_ENV})`;
  return `payload encryption on: current key ${keyring.currentKeyId}, decrypts ${keyring.keyIds.join(', ')} (${keyring.source})`;
}
