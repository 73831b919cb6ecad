import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { DROP, RENEW } from './quota-scripts.js';
import { keyPart, type RedisHandle, runScript } from './redis-scripts.js';

/** Who sweeps a store: with several instances on one store, one at a time. */
export interface SweepLease {
  /** Run `sweep` of the endpoint's store if this instance may; undefined when it skipped (another instance is sweeping it). */
  run<T>(endpoint: string, sweep: () => Promise<T>): Promise<T | undefined>;
}

/** One process: it always sweeps (the upload locks keep a sweep off uploads being written). */
export const LOCAL_SWEEP: SweepLease = { run: (_endpoint, sweep) => sweep() };

/** The lease lasts about one cleanup interval (bounded): a SIGKILLed sweeper's lease lapses within it. */
export function sweepLeaseMs(cleanupIntervalMs: number): number {
  return Math.min(60_000, Math.max(3_000, cleanupIntervalMs));
}

/**
 * The sweep lease in Redis (`locker.type: redis`): `<keyPrefix>sweep:<endpoint>` holds the sweeping
 * instance's random token, set with NX and a lease (`sweepLeaseMs`) that the holder renews every
 * third of it while it sweeps and deletes when done (only if still its own). Every instance tries
 * at its own `cleanupInterval`; whoever finds the key taken skips this round (logged at debug).
 * A sweeper that dies (SIGKILL) stops renewing, so its lease lapses and the next instance to try
 * takes over. Redis unreachable: the round is skipped with a warning (upload locks need Redis too).
 */
export class RedisSweepLease implements SweepLease {
  constructor(
    private readonly coordination: RedisHandle,
    private readonly leaseMs: number,
    private readonly log: FastifyBaseLogger,
  ) {}

  async run<T>(endpoint: string, sweep: () => Promise<T>): Promise<T | undefined> {
    const key = `${this.coordination.keyPrefix}sweep:${keyPart(endpoint)}`;
    const token = randomBytes(12).toString('hex');
    try {
      const redis = await this.coordination.redis();
      if ((await redis.set(key, token, 'PX', this.leaseMs, 'NX')) !== 'OK') {
        this.log.debug({ endpoint }, 'store sweep skipped: another instance holds the sweep lease of this store');
        return undefined;
      }
    } catch (error) {
      this.log.warn({ endpoint, reason: (error as Error).message }, 'store sweep skipped: Redis (the sweep lease) is unreachable');
      return undefined;
    }
    this.log.debug({ endpoint }, 'store sweep: this instance took the sweep lease');
    const renewal = setInterval(() => {
      void this.coordination
        .redis()
        .then((redis) => runScript(redis, 'lease_renew', RENEW, [key], [token, this.leaseMs]))
        .then((renewed) => {
          if (renewed === 0) this.log.warn({ endpoint }, 'the sweep lease lapsed while this instance was sweeping (stalled, or Redis was unreachable); another instance may sweep too');
        })
        .catch(() => undefined);
    }, this.leaseMs / 3);
    renewal.unref();
    try {
      return await sweep();
    } finally {
      clearInterval(renewal);
      // Logged before the lease goes: another instance may take it the moment it is dropped.
      this.log.debug({ endpoint }, 'store sweep done; releasing the sweep lease');
      await this.coordination
        .redis()
        .then((redis) => runScript(redis, 'lease_drop', DROP, [key], [token]))
        .catch(() => undefined);
    }
  }
}
