import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { QuotaRebuild } from '../../src/coordination/quota-rebuild.js';
import type { UnfinishedUpload } from '../../src/stores/backend.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';

/**
 * One rebuild of the quota counts per flush, fleet-wide (fleet-quota counts the log lines; CI saw
 * two). The race: an instance looks for the `built` marker (missing: another instance is still
 * rebuilding), the other instance finishes (sets the marker, drops the lock), and the first one
 * then finds the lock free and lists the whole store again. Over HTTP that window is a few
 * microseconds wide; here the other instance's finish is run on a second real Redis connection
 * right after this instance's first answer from Redis, whatever that command was.
 */
let redis: RunningRedis;
let other: Redis;
beforeAll(async () => {
  redis = await startRedis();
  other = new Redis(redis.url);
});
afterAll(async () => {
  other?.disconnect();
  await redis?.remove();
});

/** `client`, running `between` once, after the first command it answers and before that answer is returned. */
function afterFirstAnswer(client: Redis, between: () => Promise<void>): Redis {
  let done = false;
  return new Proxy(client, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      if (property === 'defineCommand') return value.bind(target);
      return async (...args: unknown[]) => {
        const answer: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (!done) {
          done = true;
          await between();
        }
        return answer;
      };
    },
  });
}

it('an instance that looked while another was rebuilding does not rebuild again once that one has finished', async () => {
  const prefix = `race-${Date.now()}:`;
  const keys = { owner: (owner: string) => `${prefix}quota:${owner}`, built: `${prefix}quota-built`, released: `${prefix}quota-released`, rebuild: `${prefix}quota-rebuild` };
  // The other instance holds the rebuild lock; it finishes right after this instance's first answer.
  await other.set(keys.rebuild, 'other-token', 'PX', 15_000);
  const client = new Redis(redis.url);
  try {
    const watched = afterFirstAnswer(client, async () => {
      await other.set(keys.built, 'other-token');
      await other.del(keys.rebuild);
    });
    let listings = 0;
    const rebuild = new QuotaRebuild({
      coordination: { keyPrefix: prefix, redis: async () => watched, unavailable: () => new Error('Redis down') },
      endpoint: '/files',
      keys,
      listUnfinished: async function* (): AsyncGenerator<UnfinishedUpload> {
        listings += 1;
      },
      log: pino({ level: 'silent' }),
    });
    await rebuild.ensure();
    expect(listings).toBe(0);
    expect(await other.get(keys.built)).toBe('other-token');
    expect(await other.exists(keys.rebuild)).toBe(0);
  } finally {
    client.disconnect();
  }
});
