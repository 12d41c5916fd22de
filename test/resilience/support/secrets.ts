import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { StackInfo } from '../../../devstack/stack-file';
import { codecFromEnv, dataConverterFromEnv, decryptPayloadsDeep } from '../../../encryption';

/**
 * The secrets scan: no Graph client secret, SCIM token, AWS secret key, payload encryption key or
 * codec token may appear in any workflow history (as the server stores it, and decrypted) or in any
 * log. Each secret is looked for in every form it could take on the way: as is, URL-encoded (a form
 * body), base64 and base64url (a payload, a Basic header), and for keys also their raw bytes.
 */

export interface Needle {
  label: string;
  bytes: Buffer;
}

export interface Finding {
  label: string;
  where: string;
}

/** Forms a secret string can take once it has passed through a protocol or a serializer. */
export function needlesFor(label: string, value: string): Needle[] {
  if (value.length < 8) throw new Error(`secret ${label} is too short to scan for without false alarms`);
  const forms = new Map<string, string>([
    ['', value],
    [' (url-encoded)', encodeURIComponent(value)],
    [' (base64)', Buffer.from(value).toString('base64').replace(/=+$/, '')],
    [' (base64url)', Buffer.from(value).toString('base64url')],
    [' (json-escaped)', JSON.stringify(value).slice(1, -1)],
  ]);
  const seen = new Set<string>();
  const out: Needle[] = [];
  for (const [suffix, form] of forms) {
    if (seen.has(form)) continue;
    seen.add(form);
    out.push({ label: `${label}${suffix}`, bytes: Buffer.from(form, 'utf8') });
  }
  return out;
}

/** The payload encryption keys of a stack: the base64 text and the raw 32 bytes of each. */
export function encryptionKeyNeedles(label: string, env: Record<string, string>): Needle[] {
  const keys: Record<string, string> = {};
  if (env.IDFLOW_ENCRYPTION_KEY_FILE) Object.assign(keys, (JSON.parse(readFileSync(env.IDFLOW_ENCRYPTION_KEY_FILE, 'utf8')) as { keys: Record<string, string> }).keys);
  if (env.IDFLOW_ENCRYPTION_KEYS) {
    for (const entry of env.IDFLOW_ENCRYPTION_KEYS.split(',')) {
      const i = entry.indexOf(':');
      keys[entry.slice(0, i).trim()] = entry.slice(i + 1).trim();
    }
  }
  if (Object.keys(keys).length === 0) throw new Error(`${label}: no encryption key configured; nothing to scan for`);
  return Object.entries(keys).flatMap(([id, b64]) => [
    ...needlesFor(`${label} encryption key ${id}`, b64.replace(/=+$/, '')),
    { label: `${label} encryption key ${id} (raw bytes)`, bytes: Buffer.from(b64, 'base64') },
  ]);
}

/** Every secret of a stack that idflow holds: Graph client secret, SCIM token, encryption keys, codec token. */
export function stackNeedles(label: string, info: StackInfo): Needle[] {
  return [
    ...needlesFor(`${label} Graph client secret`, info.graph.clientSecret),
    ...needlesFor(`${label} SCIM token`, info.scim.token),
    ...needlesFor(`${label} codec token`, info.encryption.codecToken),
    ...encryptionKeyNeedles(label, info.encryption.env),
  ];
}

/** Bearer tokens (JWTs) have no place in a history or a log either, whoever issued them. */
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/;

export function scanBuffer(haystack: Buffer, needles: readonly Needle[], where: string): Finding[] {
  const found: Finding[] = [];
  for (const n of needles) if (haystack.indexOf(n.bytes) >= 0) found.push({ label: n.label, where });
  if (JWT.test(haystack.toString('latin1'))) found.push({ label: 'a JWT (bearer token)', where });
  return found;
}

/** Every regular file under the given paths (directories are walked). */
export function scanFiles(paths: readonly string[], needles: readonly Needle[]): { files: string[]; findings: Finding[] } {
  const files: string[] = [];
  const walk = (p: string) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
    else if (s.isFile()) files.push(p);
  };
  paths.forEach(walk);
  return { files, findings: files.flatMap((f) => scanBuffer(readFileSync(f), needles, f)) };
}

/**
 * Every workflow execution on a Temporal server (open and closed, every run): its history as the
 * server returns it (what its database and backups hold), and the same history decrypted with the
 * stack's key (what an operator with the codec sees).
 */
export async function scanTemporal(label: string, info: StackInfo, needles: readonly Needle[]): Promise<{ histories: number; events: number; findings: Finding[] }> {
  const connection = await Connection.connect({ address: info.temporal.address });
  const findings: Finding[] = [];
  let histories = 0;
  let events = 0;
  try {
    const codec = codecFromEnv(info.encryption.env);
    if (!codec) throw new Error(`${label}: no codec; the decrypted scan needs the stack's key`);
    // The codec only decodes the listing's memos; fetchHistory() returns the history as stored.
    const client = new Client({ connection, namespace: info.temporal.namespace, dataConverter: dataConverterFromEnv(info.encryption.env) });
    for await (const wf of client.workflow.list()) {
      const history = await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory();
      histories += 1;
      events += history.events?.length ?? 0;
      const where = `${label} history ${wf.workflowId}/${wf.runId}`;
      const raw = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
      findings.push(...scanBuffer(raw, needles, `${where} (as stored)`));
      const decrypted = await decryptPayloadsDeep(history, codec);
      const plain = Buffer.from(temporal.api.history.v1.History.encode(decrypted).finish());
      findings.push(...scanBuffer(plain, needles, `${where} (decrypted)`));
    }
  } finally {
    await connection.close();
  }
  return { histories, events, findings };
}
