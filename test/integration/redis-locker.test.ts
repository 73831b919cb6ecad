import { randomBytes } from 'node:crypto';
import { ERRORS, type Lock } from '@tus/server';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { leaseOf } from '../../src/coordination/fence.js';
import { RedisCoordination } from '../../src/coordination/redis-client.js';
import { RedisLocker } from '../../src/coordination/redis-locker.js';
import { acquireUploadLock } from '../../src/uploads/lock.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { until } from '../helpers/wait.js';

/**
 * The Redis locker against a real redis-server. Each "instance" is a RedisCoordination of its own
 * (its own connections), as two tusport processes would have.
 */
let redis: RunningRedis;
let inspector: Redis;
const opened: RedisCoordination[] = [];
const held: Lock[] = [];

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis(redis.url);
  // It reconnects by itself after the outage test.
  inspector.on('error', () => undefined);
});

afterAll(async () => {
  inspector.disconnect();
  await redis.remove();
});

afterEach(async () => {
  await Promise.all(held.splice(0).map((lock) => lock.unlock().catch(() => undefined)));
  await Promise.all(opened.splice(0).map((coordination) => coordination.close()));
  if (!redis.alive()) await redis.restart();
});

function instance(options: { lease?: number; acquireTimeoutMs?: number; prefix?: string } = {}) {
  const coordination = new RedisCoordination({ type: 'redis', url: redis.url, keyPrefix: options.prefix ?? 'locktest:', lease: options.lease ?? 10_000 }, pino({ level: 'silent' }));
  opened.push(coordination);
  return { coordination, locker: new RedisLocker(coordination, { acquireTimeoutMs: options.acquireTimeoutMs ?? 30_000 }) };
}

const newId = () => randomBytes(8).toString('hex');
const never = () => new AbortController().signal;

describe('RedisLocker', () => {
  it('hands a busy upload over across instances: the holder is asked to release, the newcomer gets the lock once it has', async () => {
    const a = instance();
    const b = instance();
    const id = newId();
    const events: string[] = [];
    const first = a.locker.newLock(id);
    await first.lock(never(), async () => {
      events.push('asked');
      // The holder finishes what it is doing, then lets go.
      setTimeout(() => {
        events.push('released');
        void first.unlock();
      }, 200);
    });
    const second = b.locker.newLock(id);
    await second.lock(never(), () => {});
    held.push(second);
    events.push('acquired');
    expect(events).toEqual(['asked', 'released', 'acquired']);
    expect(await inspector.get(`locktest:lock:${id}`)).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives up after the acquire timeout when the holder does not let go: ERR_LOCK_TIMEOUT, which a request answers 423', async () => {
    const a = instance();
    const b = instance({ acquireTimeoutMs: 500 });
    const id = newId();
    const stubborn = a.locker.newLock(id);
    let asked = 0;
    await stubborn.lock(never(), () => {
      asked += 1;
    });
    held.push(stubborn);
    await expect(b.locker.newLock(id).lock(never(), () => {})).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    await expect(acquireUploadLock(b.locker, id, 100, never())).rejects.toMatchObject({ code: 'TUSPORT_ERR_LOCKED', statusCode: 423 });
    expect(asked).toBeGreaterThan(0);
    // The holder still holds it.
    expect(() => leaseOf(stubborn)!.assertHeld()).not.toThrow();
  });

  it('releases on unlock: the key is gone and the next request takes the lock at once, without asking anyone', async () => {
    const a = instance();
    const id = newId();
    const lock = a.locker.newLock(id);
    await lock.lock(never(), () => {});
    expect(await inspector.exists(`locktest:lock:${id}`)).toBe(1);
    await lock.unlock();
    expect(await inspector.exists(`locktest:lock:${id}`)).toBe(0);
    let asked = false;
    const next = instance().locker.newLock(id);
    await next.lock(never(), () => {
      asked = true;
    });
    held.push(next);
    expect(asked).toBe(false);
  });

  it('renews the lease while held: the key outlives several leases', async () => {
    const a = instance({ lease: 1_000 });
    const id = newId();
    const lock = a.locker.newLock(id);
    await lock.lock(never(), () => {});
    held.push(lock);
    const token = await inspector.get(`locktest:lock:${id}`);
    // Three lease lengths later (by Redis' own clock: the TTL is re-armed each renewal).
    for (let i = 0; i < 6; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await inspector.get(`locktest:lock:${id}`)).toBe(token);
      expect(await inspector.pttl(`locktest:lock:${id}`)).toBeGreaterThan(0);
    }
    expect(() => leaseOf(lock)!.assertHeld()).not.toThrow();
  });

  it("a holder whose key expired and was taken cannot write any more (fencing): lost fires and assertHeld throws 423", async () => {
    const a = instance({ lease: 1_500 });
    const id = newId();
    const lock = a.locker.newLock(id);
    await lock.lock(never(), () => {});
    held.push(lock);
    const lease = leaseOf(lock)!;
    // What a holder paused past its lease finds: the key expired and another holder took it.
    await inspector.set(`locktest:lock:${id}`, 'someone-else', 'PX', 10_000);
    await until(() => lease.lost.aborted, 'the lease to be lost', 5_000);
    expect(() => lease.assertHeld()).toThrow(expect.objectContaining({ code: 'TUSPORT_ERR_LOCK_LOST', statusCode: 423 }));
    // Unlocking a lost lock does not delete the new holder's key.
    await lock.unlock();
    held.splice(held.indexOf(lock), 1);
    expect(await inspector.get(`locktest:lock:${id}`)).toBe('someone-else');
  });

  it('a lock whose holder vanished (no unlock, no renewals) expires within the lease and the next request gets it', async () => {
    const lease = 1_500;
    const id = newId();
    const dead = instance({ lease });
    const lock = dead.locker.newLock(id);
    await lock.lock(never(), () => {});
    // The instance goes away without unlocking: its connections close, renewals stop.
    await dead.coordination.close();
    opened.splice(opened.indexOf(dead.coordination), 1);
    const ttl = await inspector.pttl(`locktest:lock:${id}`);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(lease);
    const next = instance({ lease }).locker.newLock(id);
    await next.lock(never(), () => {});
    held.push(next);
    expect(await inspector.get(`locktest:lock:${id}`)).not.toBeNull();
  });

  it('answers 503 TUSPORT_ERR_COORDINATION_UNAVAILABLE naming Redis (no credentials) while it is down, and works again once it is back', async () => {
    const a = instance();
    // Connected once, then Redis stops.
    await a.coordination.check();
    await redis.stop();
    await until(() => !a.coordination.reachable, 'the outage to be noticed');
    const error = await acquireUploadLock(a.locker, newId(), 100, never()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({
      code: 'TUSPORT_ERR_COORDINATION_UNAVAILABLE',
      statusCode: 503,
      message: `Redis at redis://127.0.0.1:${redis.port}/0 is unreachable; retry later`,
    });
    await redis.restart();
    await until(() => a.coordination.reachable, 'the reconnection', 20_000);
    const lock = await acquireUploadLock(a.locker, newId(), 100, never());
    await lock.release();
  });
});
