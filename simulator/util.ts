/** Small helpers shared by the simulator modules: JSON types, deterministic ids, PRNG, base64url. */
import { createHash, randomUUID } from 'node:crypto';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** mulberry32: tiny, fast, deterministic PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A PRNG seeded from a string (so user #i gets the same attributes whatever the organisation size). */
export function prngFor(key: string): () => number {
  const h = createHash('sha256').update(key).digest();
  return mulberry32(h.readUInt32LE(0));
}

export function pick<T>(rand: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('pick from empty list');
  return item;
}

/** A GUID-shaped (version 4 layout) id derived from a string. Deterministic. */
export function guidFrom(key: string): string {
  const b = createHash('sha256').update(key).digest().subarray(0, 16);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export const newGuid = (): string => randomUUID();

export const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export function fromB64url(s: string): Buffer {
  return Buffer.from(s, 'base64url');
}

/** Graph's innerError date: UTC, seconds precision, no zone suffix ("2021-05-18T19:03:10"). */
export function graphDate(d = new Date()): string {
  return d.toISOString().slice(0, 19);
}

/** Entra's error timestamp format: "2024-05-01 12:00:00Z". */
export function entraTimestamp(d = new Date()): string {
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}Z`;
}

/** Strip diacritics and the letters NFD does not decompose, for mail nicknames. */
export function asciiFold(s: string): string {
  const special: Record<string, string> = {
    ł: 'l', Ł: 'L', ø: 'o', Ø: 'O', æ: 'ae', Æ: 'AE', ß: 'ss', đ: 'd', Đ: 'D', þ: 'th', Þ: 'Th', ð: 'd', Ð: 'D', ı: 'i', œ: 'oe', Œ: 'OE',
  };
  return s
    .replace(/[łŁøØæÆßđĐþÞðÐıœŒ]/g, (c) => special[c] ?? c)
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '');
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
