import { defaultPayloadConverter, type Payload, type PayloadCodec, type PayloadConverter } from '@temporalio/common';
import { isEncryptedPayload } from './codec';

/**
 * Helpers for readers of raw Temporal data (`idflow audit`, tests): the SDK decodes payloads for
 * workflow results, queries, memos and describe(), but not for `handle.fetchHistory()` or raw
 * WorkflowService responses.
 */

/**
 * Decrypts, in place, every `binary/encrypted` payload anywhere in a proto object tree (a History
 * from `handle.fetchHistory()`, one HistoryEvent, a raw WorkflowService response) and returns it.
 * Other payloads (search attributes, headers, plaintext payloads from before encryption) are left
 * as they are. A payload that cannot be decrypted rejects the whole call: nothing is half-decoded.
 */
export async function decryptPayloadsDeep<T>(root: T, codec: PayloadCodec): Promise<T> {
  const slots: Array<{ parent: Record<string | number, unknown>; key: string | number; payload: Payload }> = [];
  const seen = new WeakSet<object>();
  const walk = (node: unknown) => {
    if (typeof node !== 'object' || node === null || ArrayBuffer.isView(node) || seen.has(node)) return;
    seen.add(node);
    const parent = node as Record<string | number, unknown>;
    for (const key of Object.keys(parent)) {
      const child = parent[key];
      if (typeof child !== 'object' || child === null || ArrayBuffer.isView(child)) continue;
      if (isEncryptedPayload(child as Payload)) slots.push({ parent, key, payload: child as Payload });
      else walk(child);
    }
  };
  walk(root);
  if (slots.length === 0) return root;
  const decoded = await codec.decode(slots.map((s) => s.payload));
  slots.forEach((s, i) => {
    s.parent[s.key] = decoded[i];
  });
  return root;
}

/** Decrypts payloads (when encrypted) and converts them to values with the default payload converter. */
export async function decodePayloadValues(payloads: Payload[], codec: PayloadCodec | undefined, converter: PayloadConverter = defaultPayloadConverter): Promise<unknown[]> {
  const plain = codec ? await codec.decode(payloads) : payloads;
  return plain.map((p) => {
    if (isEncryptedPayload(p)) throw new Error('payload is encrypted and no encryption key is configured (IDFLOW_ENCRYPTION_KEYS or IDFLOW_ENCRYPTION_KEY_FILE)');
    return converter.fromPayload(p);
  });
}
