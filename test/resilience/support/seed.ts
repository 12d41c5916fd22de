/**
 * One seed for the whole resilience run, so a failure can be replayed: every random choice (kill
 * points, fault ratios, fuzzed events) is drawn from generators derived from it.
 *
 *   IDFLOW_RESILIENCE_SEED=123456 npx jest --runInBand test/resilience
 */
export const SEED_ENV = 'IDFLOW_RESILIENCE_SEED';

function chooseSeed(): number {
  const fixed = process.env[SEED_ENV];
  if (fixed !== undefined && fixed !== '') {
    const n = Number(fixed);
    if (!Number.isSafeInteger(n)) throw new Error(`${SEED_ENV}=${fixed} is not an integer`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

export const SEED = chooseSeed();

/** mulberry32: small, fast, good enough for choosing test points. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A generator for one named purpose, so adding a case never shifts another case's choices. */
export function rngFor(purpose: string): () => number {
  let h = SEED >>> 0;
  for (const c of purpose) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return rng(h);
}

export function intBetween(random: () => number, min: number, max: number): number {
  return min + Math.floor(random() * (max - min + 1));
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

export function announceSeed(file: string): void {
  process.stderr.write(`\n${file}: resilience seed ${SEED} (replay with ${SEED_ENV}=${SEED})\n`);
}
