import { mulberry32 } from '../../../simulator/util';

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

/** A generator for one named purpose, so adding a case never shifts another case's choices. */
export function rngFor(purpose: string): () => number {
  let h = SEED >>> 0;
  for (const c of purpose) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return mulberry32(h);
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
