import type { Tag } from '@aws-sdk/client-iam';
import { IAM_TAG_VALUE_MAX } from './names';

/** The tags idflow keeps on the IAM users it owns, and how lists longer than one tag value are kept. */

/** Tags idflow keeps on every IAM user it owns. Every tag key starting with `idflow:` is reserved. */
export const IAM_TAGS = {
  owner: 'idflow:owner',
  employeeId: 'idflow:employee-id',
  externalId: 'idflow:external-id',
  status: 'idflow:status',
  /**
   * Access keys idflow deactivated on disable (space separated; continued in `...:2`, `...:3` when
   * long); SSH keys, signing certificates and service-specific credentials alike, in the tags named
   * in credentials.ts.
   */
  deactivatedKeys: 'idflow:deactivated-keys',
  /** Groups idflow removed the user from on disable, same encoding. */
  removedGroups: 'idflow:removed-groups',
  /** Set when idflow deleted the console password on disable (it cannot be restored, only reported). */
  loginProfileDeleted: 'idflow:login-profile-deleted',
} as const;
/** Tag keys with this prefix are idflow's bookkeeping, never mapped attributes. */
export const IAM_RESERVED_TAG_PREFIX = 'idflow:';

// IAM tag values: letters, digits, spaces and _ . : / = + - @ (a comma, legal in group names, is not).
export const TAG_VALUE_CHARS = /^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$/u;

export function isListKey(key: string, base: string): boolean {
  return key === base || new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+$`).test(key);
}

/** A list in tags: space separated, split over `base`, `base:2`, ... at IAM's value length. */
export function encodeList(base: string, values: readonly string[]): Record<string, string> {
  const chunks: string[] = [];
  let current = '';
  for (const v of values) {
    const next = current === '' ? v : `${current} ${v}`;
    if (next.length > IAM_TAG_VALUE_MAX && current !== '') {
      chunks.push(current);
      current = v;
    } else current = next;
  }
  if (current !== '') chunks.push(current);
  return Object.fromEntries(chunks.map((c, i) => [i === 0 ? base : `${base}:${i + 1}`, c]));
}

export function decodeList(tags: Record<string, string>, base: string): string[] {
  const parts = Object.keys(tags)
    .filter((k) => isListKey(k, base))
    .sort((a, b) => chunkIndex(a) - chunkIndex(b))
    .flatMap((k) => tags[k]!.split(' '));
  return parts.filter(Boolean);
}

function chunkIndex(key: string): number {
  const m = /:(\d+)$/.exec(key);
  return m ? Number(m[1]) : 1;
}

export function tagMap(tags: Tag[] | undefined): Record<string, string> {
  return Object.fromEntries((tags ?? []).map((t) => [t.Key!, t.Value ?? '']));
}

export function toTags(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}
