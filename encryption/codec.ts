import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { type DataConverter, METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { type Keyring, loadKeyring } from './keys';

/**
 * AES-256-GCM payload encryption for Temporal (docs/encryption.md).
 *
 * An encrypted payload has metadata
 *   encoding            = binary/encrypted
 *   encryption-key-id   = <key id>
 *   encryption-cipher   = AES-256-GCM
 * and data = 12-byte random IV ‖ ciphertext ‖ 16-byte GCM tag, where the plaintext is the original
 * Payload serialized as a `temporal.api.common.v1.Payload` protobuf message (metadata included, so the
 * original encoding is hidden too) and the additional authenticated data binds the cipher and key id:
 * relabelling a payload with another key id fails authentication.
 */

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
export const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A payload that cannot be decrypted. Never answered with the ciphertext or a plaintext fallback. */
export class PayloadDecryptionError extends Error {
  constructor(
    message: string,
    readonly keyId?: string,
  ) {
    super(message);
    this.name = 'PayloadDecryptionError';
  }
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const fromUtf8 = (b: Uint8Array) => new TextDecoder('utf-8', { fatal: true }).decode(b);

function additionalData(keyId: string): Buffer {
  return Buffer.from(`${ENCRYPTED_ENCODING};${CIPHER};${keyId}`, 'utf8');
}

/** True when the payload carries the `binary/encrypted` encoding. */
export function isEncryptedPayload(payload: Payload | null | undefined): boolean {
  const encoding = payload?.metadata?.[METADATA_ENCODING_KEY];
  return encoding !== undefined && encoding !== null && Buffer.from(encoding).toString('utf8') === ENCRYPTED_ENCODING;
}

export class AesGcmCodec implements PayloadCodec {
  constructor(readonly keyring: Keyring) {}

  get currentKeyId(): string {
    return this.keyring.currentKeyId;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => this.encryptOne(p));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => (isEncryptedPayload(p) ? this.decryptOne(p) : p));
  }

  private encryptOne(payload: Payload): Payload {
    const keyId = this.keyring.currentKeyId;
    const key = this.keyring.key(keyId)!;
    const plaintext = temporal.api.common.v1.Payload.encode(payload).finish();
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(keyId));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return {
      metadata: {
        [METADATA_ENCODING_KEY]: utf8(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: utf8(keyId),
        [CIPHER_METADATA]: utf8(CIPHER),
      },
      data: Buffer.concat([iv, body, cipher.getAuthTag()]),
    };
  }

  private decryptOne(payload: Payload): Payload {
    const metadata = payload.metadata ?? {};
    const rawKeyId = metadata[KEY_ID_METADATA];
    if (!rawKeyId) throw new PayloadDecryptionError(`encrypted payload has no ${KEY_ID_METADATA} metadata; cannot decrypt`);
    let keyId: string;
    try {
      keyId = fromUtf8(rawKeyId);
    } catch {
      throw new PayloadDecryptionError(`encrypted payload has a ${KEY_ID_METADATA} that is not UTF-8; cannot decrypt`);
    }
    const rawCipher = metadata[CIPHER_METADATA];
    const cipherName = rawCipher ? Buffer.from(rawCipher).toString('utf8') : undefined;
    if (cipherName !== CIPHER) {
      throw new PayloadDecryptionError(`encrypted payload (key id "${keyId}") uses cipher ${JSON.stringify(cipherName ?? null)}; only ${CIPHER} is supported`, keyId);
    }
    const key = this.keyring.key(keyId);
    if (!key) {
      throw new PayloadDecryptionError(
        `payload was encrypted with key id "${keyId}", which is not in the keyring (${this.keyring.source}; known: ${this.keyring.keyIds.join(', ')}); ` +
          `keep retired keys configured until no history references them`,
        keyId,
      );
    }
    const data = Buffer.from(payload.data ?? new Uint8Array());
    if (data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(`encrypted payload (key id "${keyId}") is truncated: ${data.length} bytes`, keyId);
    }
    const iv = data.subarray(0, IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const body = data.subarray(IV_BYTES, data.length - TAG_BYTES);
    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(keyId));
      decipher.setAuthTag(tag);
      plaintext = Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(
        `payload encrypted with key id "${keyId}" failed authentication: the key configured under that id is not the one it was encrypted with, or the payload was modified`,
        keyId,
      );
    }
    let decoded: temporal.api.common.v1.Payload;
    try {
      decoded = temporal.api.common.v1.Payload.decode(plaintext);
    } catch {
      throw new PayloadDecryptionError(`payload encrypted with key id "${keyId}" decrypted to bytes that are not a Payload message`, keyId);
    }
    // A plain Payload: protobufjs gives `[]` for absent bytes and Buffers for present ones.
    const result: Payload = { metadata: Object.fromEntries(Object.entries(decoded.metadata).map(([k, v]) => [k, new Uint8Array(v)])) };
    if (decoded.data.length > 0) result.data = new Uint8Array(decoded.data);
    if (decoded.externalPayloads.length > 0) result.externalPayloads = decoded.externalPayloads;
    return result;
  }
}

// A static import, so the module is compiled into dist/ next to this file (it is otherwise loaded by path only).
export { failureConverter } from './failure-converter';

/**
 * Path of the failure converter module that moves failure messages and stack traces into an
 * (encrypted) payload. Resolved from this file, so it works from source (jest) and from dist/.
 */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The codec configured in `env`, or undefined when encryption is off (development without a key). */
export function codecFromEnv(env: NodeJS.ProcessEnv = process.env): AesGcmCodec | undefined {
  const keyring = loadKeyring(env);
  return keyring ? new AesGcmCodec(keyring) : undefined;
}

/** The data converter for a Client or Worker from a codec; encodes failure messages too. */
export function dataConverterFor(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/**
 * `dataConverter` for `new Client(...)`, `Worker.create(...)` and `bundleWorkflowCode(...)`
 * (pass its `failureConverterPath` there), or undefined when encryption is off.
 * Throws EncryptionConfigError on any invalid key configuration or production mode without a key.
 */
export function dataConverterFromEnv(env: NodeJS.ProcessEnv = process.env): DataConverter | undefined {
  const codec = codecFromEnv(env);
  return codec ? dataConverterFor(codec) : undefined;
}
