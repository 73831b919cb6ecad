import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import type { SweepOptions, SweepResult } from '../stores/backend.js';

/** What one round of the sweep hands each hook. */
export interface SweepRound {
  locker: Locker;
  log: FastifyBaseLogger;
  now: number;
}

/**
 * What a protocol or feature adds to the sweep of its endpoint's store. Each registers its own on
 * the endpoint's runtime when it is mounted (src/protocols/s3-direct/ its abandoned direct
 * uploads, src/files/ its expired unclaimed uploads), so the core sweep (src/uploads/sweep.ts)
 * knows none of them by name.
 */
export interface SweepHook {
  /** What it sweeps (logs). */
  readonly name: string;
  /** Handed to the store's own walk, for what only the store can see as it lists. */
  storeOptions?(round: SweepRound): Pick<SweepOptions, 'noticeDirect'>;
  /** Run after the store's sweep, under the same lease; resolves with what it did. */
  after?(round: SweepRound): Promise<Partial<SweepResult>>;
}
