/** Small, pure text helpers shared by naming and expressions. No Node built-ins: usable anywhere. */

const SPECIAL_LETTERS: Record<string, string> = {
  ł: 'l', Ł: 'L', ø: 'o', Ø: 'O', ß: 'ss', æ: 'ae', Æ: 'AE', œ: 'oe', Œ: 'OE', đ: 'd', Đ: 'D', þ: 'th', Þ: 'Th', ı: 'i', ð: 'd', Ð: 'D',
};

/** "Zoë O'Brien-Łukasiewicz" -> "Zoe O'Brien-Lukasiewicz". */
export function normalizeDiacritics(value: string): string {
  return value
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[łŁøØßæÆœŒđĐþÞıðÐ]/g, (ch) => SPECIAL_LETTERS[ch] ?? ch);
}

/** 32-bit FNV-1a as 8 hex digits: a stable, dependency-free fingerprint for name suffixes. */
export function fnv1a32(value: string): string {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(value)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash.toString(16).padStart(8, '0');
}
