/**
 * The whole-directory read of a full reconcile, resumable after a worker crash.
 *
 * Planning needs every identity in memory at once, so resuming "from the last page" needs the pages
 * already read. They are kept in a page log on the worker's local disk (one line per Graph page),
 * AES-256-GCM encrypted with a random key that exists only in memory and in the heartbeat (which the
 * payload codec encrypts in Temporal). Each page is appended to the log, then checkpointed: the
 * activity heartbeats the checkpoint (cursor + log length + key, a few hundred bytes whatever the
 * directory's size). A retried attempt on the same host replays the log and continues from the
 * cursor; anywhere the log is not available (another host, a new container without a volume, a
 * different config, an expired page link, a damaged log) it starts over. It never plans on a partial
 * directory: a resumed result is always the log's pages plus the rest of the listing.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SourceGroupRef, SourceIdentity } from '../../domain/types';
import { readPerson, type RecordedPerson } from '../../domain/person';
import { addMembers, type GraphSource, sortGroups, toIdentity } from './source';

/** Where a listing goes on: the next page to read. */
export type ListingCursor = { phase: 'members'; group: number; next?: string } | { phase: 'users'; next?: string };

/** What the activity heartbeats after every page; enough to resume, holding no directory data. */
export interface ListingCheckpoint {
  v: 1;
  /** Names the page log; new for every fresh listing. */
  id: string;
  /** The page log's AES-256-GCM key, base64. */
  key: string;
  /** GraphSource.listingFingerprint(select): the select and the referenced groups. */
  fingerprint: string;
  /** The referenced groups, resolved once. */
  groups: SourceGroupRef[];
  cursor: ListingCursor;
  /** Records (pages) and bytes of the log this checkpoint covers. */
  records: number;
  bytes: number;
  /** Graph pages read so far (members and users), and identities read so far. */
  pages: number;
  identities: number;
}

export interface ReadIdentitiesOptions {
  /** A checkpoint from a previous attempt (heartbeat details); anything unusable is ignored. */
  resume?: unknown;
  /** Called after every page, once it is in the log. */
  checkpoint?: (checkpoint: ListingCheckpoint) => void;
  /** Directory of the page logs; default `$TMPDIR/idflow-listings`. Put it on a volume that survives a restart. */
  spillDir?: string;
}

export interface ReadIdentitiesResult {
  identities: SourceIdentity[];
  /** Graph pages of the whole listing (members and users), including the ones replayed from the log. */
  pages: number;
  /** Graph pages this call requested. */
  pagesRead: number;
  /** What came from the log of a previous attempt, or null. */
  resumed: { pages: number; identities: number } | null;
  /** Why a checkpoint that was given could not be used (the listing then started over). */
  resumeRejected?: string;
}

export function defaultSpillDir(): string {
  return join(tmpdir(), 'idflow-listings');
}

const LOG_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Logs older than this are left-overs of listings that never finished and never resumed. */
const STALE_MS = 24 * 3600_000;

interface MemberRecord {
  t: 'm';
  g: number;
  ids: string[];
}
interface UserRecord {
  t: 'u';
  items: SourceIdentity[];
}
type LogRecord = MemberRecord | UserRecord;

interface State {
  cp: ListingCheckpoint;
  index: Map<string, SourceGroupRef[]>;
  identities: SourceIdentity[];
  /** Null when nobody takes checkpoints: a listing no one can resume is not logged. */
  log: PageLog | null;
}

/**
 * Reads every identity with its referenced groups: each referenced group's transitive members, then
 * every user, at $top=999. Costs one request per page (plus one per 15 referenced groups to resolve
 * them on a fresh start); resumes from `options.resume` when its log is available.
 */
export async function readIdentities(source: GraphSource, select: readonly string[], options: ReadIdentitiesOptions = {}): Promise<ReadIdentitiesResult> {
  const dir = options.spillDir ?? defaultSpillDir();
  const fingerprint = source.listingFingerprint(select);
  let resumeRejected: string | undefined;
  let state: State | null = null;
  if (options.resume !== undefined && options.resume !== null) {
    try {
      state = await restore(dir, options.resume, fingerprint);
    } catch (err) {
      resumeRejected = (err as Error).message;
      // A log that cannot be resumed is of no use to anyone: drop it now rather than in a day.
      const id = (options.resume as { id?: unknown }).id;
      if (typeof id === 'string' && LOG_ID.test(id)) await rm(join(dir, `${id}.log`), { force: true });
    }
  }
  const resumed = state ? { pages: state.cp.pages, identities: state.identities.length } : null;
  try {
    if (!state) state = await fresh(dir, source, fingerprint, options.checkpoint !== undefined);
    const pagesRead = await run(state, source, select, options.checkpoint);
    await state.log?.remove();
    return { identities: state.identities, pages: state.cp.pages, pagesRead, resumed, ...(resumeRejected ? { resumeRejected } : {}) };
  } catch (err) {
    // A page link kept across a crash may have expired (400): read everything again, once.
    if (!resumed || !state || (err as { type?: string }).type !== 'Graph.badRequest' || state.cp.pages !== resumed.pages) {
      // Keep the log for the retry, unless there will be none.
      if (state && (err as { nonRetryable?: boolean }).nonRetryable === true) await state.log?.remove();
      throw err;
    }
    await state.log?.remove();
    const again = await readIdentities(source, select, { ...options, resume: undefined });
    return { ...again, resumeRejected: `the saved page link was refused: ${(err as Error).message}` };
  }
}

async function fresh(dir: string, source: GraphSource, fingerprint: string, logged: boolean): Promise<State> {
  if (logged) await pruneStale(dir);
  const groups = await source.resolvedGroups();
  const cp: ListingCheckpoint = {
    v: 1,
    id: randomUUID(),
    key: randomBytes(32).toString('base64'),
    fingerprint,
    groups,
    cursor: groups.length > 0 ? { phase: 'members', group: 0 } : { phase: 'users' },
    records: 0,
    bytes: 0,
    pages: 0,
    identities: 0,
  };
  const log = logged ? await PageLog.create(dir, cp.id, Buffer.from(cp.key, 'base64')) : null;
  return { cp, index: new Map(), identities: [], log };
}

async function run(state: State, source: GraphSource, select: readonly string[], checkpoint?: (cp: ListingCheckpoint) => void): Promise<number> {
  const { cp } = state;
  let pagesRead = 0;
  const saved = async (record: LogRecord, cursor: ListingCursor | null) => {
    if (state.log) cp.bytes = await state.log.append(cp.records, record);
    cp.records += 1;
    cp.pages += 1;
    pagesRead += 1;
    if (cursor) {
      cp.cursor = cursor;
      checkpoint?.(structuredClone(cp));
    }
  };
  while (cp.cursor.phase === 'members') {
    const g = cp.cursor.group;
    const group = cp.groups[g]!;
    for await (const page of source.memberPages(group, cp.cursor.next)) {
      addMembers(state.index, group, page.userIds);
      const after: ListingCursor = page.next ? { phase: 'members', group: g, next: page.next } : g + 1 < cp.groups.length ? { phase: 'members', group: g + 1 } : { phase: 'users' };
      await saved({ t: 'm', g, ids: page.userIds }, after);
    }
  }
  for await (const page of source.userPages(select, cp.cursor.next)) {
    const items = page.users.map((u) => toIdentity(u, select, sortGroups(state.index.get(u.id!) ?? [])));
    state.identities.push(...items);
    cp.identities += items.length;
    // The last page needs no checkpoint: the listing is complete once it returns.
    await saved({ t: 'u', items }, page.next ? { phase: 'users', next: page.next } : null);
  }
  return pagesRead;
}

/** Rebuilds the state a checkpoint describes from its log, or explains why it cannot. */
async function restore(dir: string, raw: unknown, fingerprint: string): Promise<State> {
  const cp = parseCheckpoint(raw);
  if (cp.fingerprint !== fingerprint) throw new Error('the checkpoint was taken under another select or other source groups');
  const key = Buffer.from(cp.key, 'base64');
  const records = await PageLog.read(dir, cp.id, key, cp.bytes, cp.records);
  const index = new Map<string, SourceGroupRef[]>();
  const identities: SourceIdentity[] = [];
  for (const r of records) {
    if (r.t === 'm') addMembers(index, cp.groups[r.g]!, r.ids);
    // A log written before the person's fields were source-neutral holds Entra's names: read either.
    else identities.push(...r.items.map((p) => readPerson(p as RecordedPerson)));
  }
  if (identities.length !== cp.identities) throw new Error(`the page log holds ${identities.length} identities, the checkpoint says ${cp.identities}`);
  // Continue in a new log: an older attempt that is still running keeps writing to its own.
  const id = randomUUID();
  const log = await PageLog.fork(dir, cp.id, id, key, cp.bytes);
  return { cp: { ...cp, id }, index, identities, log };
}

function parseCheckpoint(raw: unknown): ListingCheckpoint {
  const cp = raw as Partial<ListingCheckpoint> | null;
  const ok =
    !!cp &&
    cp.v === 1 &&
    typeof cp.id === 'string' &&
    LOG_ID.test(cp.id) &&
    typeof cp.key === 'string' &&
    typeof cp.fingerprint === 'string' &&
    Array.isArray(cp.groups) &&
    typeof cp.records === 'number' &&
    typeof cp.bytes === 'number' &&
    typeof cp.pages === 'number' &&
    typeof cp.identities === 'number' &&
    !!cp.cursor &&
    (cp.cursor.phase === 'users' || (cp.cursor.phase === 'members' && typeof cp.cursor.group === 'number' && cp.cursor.group < cp.groups.length));
  if (!ok) throw new Error('not a listing checkpoint');
  return cp as ListingCheckpoint;
}

async function pruneStale(dir: string): Promise<void> {
  try {
    const now = Date.now();
    for (const name of await readdir(dir)) {
      if (!name.endsWith('.log')) continue;
      const path = join(dir, name);
      const s = await stat(path).catch(() => null);
      if (s && now - s.mtimeMs > STALE_MS) await unlink(path).catch(() => undefined);
    }
  } catch {
    // No directory yet.
  }
}

/** Append-only, encrypted, one page per line: base64(iv | tag | ciphertext), the record's index as AAD. */
class PageLog {
  private constructor(
    readonly path: string,
    private readonly key: Buffer,
    private bytes: number,
  ) {}

  static async create(dir: string, id: string, key: Buffer): Promise<PageLog> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, `${id}.log`);
    await writeFile(path, '', { mode: 0o600, flag: 'wx' });
    return new PageLog(path, key, 0);
  }

  /** The first `bytes` of an existing log, decrypted and checked: exactly `records` records. */
  static async read(dir: string, id: string, key: Buffer, bytes: number, records: number): Promise<LogRecord[]> {
    const path = join(dir, `${id}.log`);
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      throw new Error(`the page log is not on this worker (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (data.length < bytes) throw new Error(`the page log is shorter (${data.length} bytes) than the checkpoint (${bytes})`);
    const lines = data.subarray(0, bytes).toString('utf8').split('\n');
    if (lines.pop() !== '' || lines.length !== records) throw new Error(`the page log does not hold the ${records} pages of the checkpoint`);
    return lines.map((line, i) => {
      try {
        return JSON.parse(decrypt(key, i, line)) as LogRecord;
      } catch {
        throw new Error(`page ${i + 1} of the page log cannot be decrypted`);
      }
    });
  }

  /** Copies the first `bytes` of log `from` into a new log `to`, and drops `from`. */
  static async fork(dir: string, from: string, to: string, key: Buffer, bytes: number): Promise<PageLog> {
    const data = (await readFile(join(dir, `${from}.log`))).subarray(0, bytes);
    const path = join(dir, `${to}.log`);
    await writeFile(path, data, { mode: 0o600, flag: 'wx' });
    await rm(join(dir, `${from}.log`), { force: true });
    return new PageLog(path, key, bytes);
  }

  /** Appends record number `index`; returns the log's length after it. */
  async append(index: number, record: LogRecord): Promise<number> {
    const line = Buffer.from(`${encrypt(this.key, index, JSON.stringify(record))}\n`);
    // 'r+' (no create) at our own offset: if a newer attempt took this log over, this one stops here.
    const handle = await open(this.path, 'r+');
    try {
      await handle.write(line, 0, line.length, this.bytes);
    } finally {
      await handle.close();
    }
    this.bytes += line.length;
    return this.bytes;
  }

  async remove(): Promise<void> {
    await rm(this.path, { force: true });
  }
}

function aad(index: number): Buffer {
  return Buffer.from(`idflow-listing-page:${index}`);
}

function encrypt(key: Buffer, index: number, text: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad(index));
  const ct = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
}

function decrypt(key: Buffer, index: number, line: string): string {
  const raw = Buffer.from(line, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(aad(index));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}
