/** Small, pure text helpers. No Node built-ins: usable anywhere. */

/** 32-bit FNV-1a as 8 hex digits: a stable, dependency-free fingerprint for name suffixes. */
export function fnv1a32(value: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(value)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
