import { createCipheriv, createHash, randomInt } from 'node:crypto';

/**
 * Reproducible randomness for the reliability suite. Every scenario draws its sizes, chunk
 * lengths, drop points and kill moments from one seed, printed at the start of the run; set
 * `RELIABILITY_SEED=<n>` to replay a failing run with the same choices (timing aside).
 */
export function suiteSeed(scenario: string): number {
  const given = process.env.RELIABILITY_SEED;
  const seed = given !== undefined && given !== '' ? Number(given) >>> 0 : randomInt(2 ** 31);
  console.log(`[${scenario}] seed ${seed} (replay with RELIABILITY_SEED=${seed})`);
  return seed;
}

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** An independent generator for a sub-task (same seed and label: same stream). */
  fork(label: string | number): Rng;
}

/** sfc32, seeded through SHA-256 so nearby seeds and labels give unrelated streams. */
export function rng(seed: number, label: string | number = ''): Rng {
  const words = createHash('sha256').update(`${seed}/${label}`).digest();
  let a = words.readUInt32LE(0);
  let b = words.readUInt32LE(4);
  let c = words.readUInt32LE(8);
  let d = words.readUInt32LE(12);
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i += 1) next();
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)] as (typeof items)[number],
    fork: (sub) => rng(seed, `${label}/${sub}`),
  };
}

/** `size` bytes that depend only on (seed, label): an AES-CTR keystream, fast even for 64 MiB. */
export function seededBytes(seed: number, label: string | number, size: number): Buffer {
  const key = createHash('sha256').update(`bytes/${seed}/${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return cipher.update(Buffer.alloc(size));
}
