import type { FastifyBaseLogger } from 'fastify';
import type { QuotaLimits } from '../policy/quota.js';
import type { UnfinishedUpload } from '../stores/backend.js';
import { MemoryQuota } from './memory-quota.js';
import type { QuotaTracker } from './quota.js';
import { RedisQuota } from './redis-quota.js';
import type { RedisHandle } from './redis-scripts.js';
import { LOCAL_SWEEP, RedisSweepLease, sweepLeaseMs, type SweepLease } from './sweep-lease.js';

/**
 * What besides the upload locks the instances of a fleet share (`locker.type: redis`): the
 * per-principal quota counts and the sweep lease. Without Redis, both live in this process.
 */
export interface SharedState {
  quota(endpoint: string, listUnfinished: () => AsyncIterable<UnfinishedUpload>, limits: QuotaLimits): QuotaTracker;
  readonly sweepLease: SweepLease;
}

export function sharedState(redis: RedisHandle | undefined, options: { log: FastifyBaseLogger; cleanupIntervalMs: number }): SharedState {
  if (!redis) return { quota: (endpoint, list, limits) => new MemoryQuota(endpoint, list, limits, options.log), sweepLease: LOCAL_SWEEP };
  return {
    quota: (endpoint, list, limits) => new RedisQuota(redis, endpoint, list, limits, options.log),
    sweepLease: new RedisSweepLease(redis, sweepLeaseMs(options.cleanupIntervalMs), options.log),
  };
}
