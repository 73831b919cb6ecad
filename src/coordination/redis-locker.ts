import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ERRORS, type Lock, type Locker, type RequestRelease } from '@tus/server';
import type { Redis } from 'ioredis';
import { CoordinationErrors } from './errors.js';
import type { Lease, LeasedLock } from './fence.js';
import type { RedisCoordination } from './redis-client.js';

/** Extend the lease ARGV[2] ms only if the lock is still ours (token ARGV[1]). */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Delete the lock only if it is still ours, and tell whoever waits for it that it is free. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]); redis.call('PUBLISH', KEYS[2], 'released'); return 1 else return 0 end`;

/** Messages on an upload's lock channel. */
const ASK_RELEASE = 'release';
const RELEASED = 'released';
/** A waiter looks again at least this often even without a message (a holder that died publishes nothing). */
const MAX_POLL_MS = 1_000;

export interface RedisLockerOptions {
  /** How long a request waits for a busy upload before it gives up (423). */
  acquireTimeoutMs: number;
}

/**
 * @tus/server's `Locker` on Redis, with what MemoryLocker does inside one process holding across
 * every instance that shares the Redis:
 *
 * - `<prefix>lock:<id>` (string, expires): the holder's random token. Taken with SET NX PX
 *   `lease`, renewed every lease/3 by a compare-and-extend script, deleted by a compare-and-delete
 *   script on unlock (which also publishes `released`).
 * - `<prefix>lock-events:<id>` (pub/sub channel): a request that finds the upload busy publishes
 *   `release`; the holder, on whatever instance, hears it and calls its `requestRelease`
 *   (tusport's handlers then finish within the drain time and unlock); the newcomer wakes on
 *   `released` and takes the lock. (Every instance listens to the whole prefix: RedisCoordination.) It also looks again when the key would expire
 *   (at most every second), which is how it gets the upload of a holder that died.
 *
 * A lock is a lease: an instance that dies leaves its locks to expire at most `lease` after its
 * last renewal, i.e. within `lease` of its death. The holder counts its lease as valid until
 * `sent + lease - lease/5`, where `sent` is when it sent its last successful SET or renewal (on
 * its monotonic clock, so a paused process sees the pause); past that, or once a renewal finds the
 * key gone or someone else's, the lease is lost: `lease.lost` fires and `lease.assertHeld()`
 * throws, and the write paths check it before each commit (see fence.ts and docs/scaling.md).
 */
export class RedisLocker implements Locker {
  constructor(
    private readonly coordination: RedisCoordination,
    private readonly options: RedisLockerOptions,
  ) {}

  newLock(id: string): Lock {
    return new RedisLock(id, this.coordination, this.options);
  }
}

interface RedisLockCommands {
  lockRenew(key: string, token: string, leaseMs: number): Promise<number>;
  lockRelease(key: string, channel: string, token: string): Promise<number>;
}

/** The scripts, defined once per connection. */
const withScripts = new WeakSet<Redis>();
function scripted(redis: Redis): Redis & RedisLockCommands {
  if (!withScripts.has(redis)) {
    redis.defineCommand('lockRenew', { numberOfKeys: 1, lua: RENEW });
    redis.defineCommand('lockRelease', { numberOfKeys: 2, lua: RELEASE });
    withScripts.add(redis);
  }
  return redis as Redis & RedisLockCommands;
}

class RedisLock implements LeasedLock {
  private readonly key: string;
  private readonly channel: string;
  private readonly token = randomBytes(16).toString('hex');
  private readonly lostController = new AbortController();
  private held = false;
  /** Monotonic ms until which the lease is certainly ours. */
  private validUntil = 0;
  private renewTimer: NodeJS.Timeout | undefined;
  private lossTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private redis: (Redis & RedisLockCommands) | undefined;
  readonly lease: Lease;

  constructor(
    id: string,
    private readonly coordination: RedisCoordination,
    private readonly options: RedisLockerOptions,
  ) {
    this.key = `${coordination.keyPrefix}lock:${id}`;
    this.channel = `${coordination.keyPrefix}lock-events:${id}`;
    const lost = this.lostController.signal;
    this.lease = {
      lost,
      assertHeld: () => {
        if (!lost.aborted && this.held && performance.now() >= this.validUntil) this.lose(CoordinationErrors.LEASE_LOST);
        if (lost.aborted) throw lost.reason;
      },
    };
  }

  private get leaseMs(): number {
    return this.coordination.leaseMs;
  }

  async lock(signal: AbortSignal, requestRelease: RequestRelease): Promise<void> {
    const redis = scripted(await this.coordination.ready());
    let wake: (() => void) | undefined;
    const unsubscribe = this.coordination.listen(this.channel, (message) => {
      // Its failure is the holder's business (it still releases on its own): never an unhandled rejection here.
      if (message === ASK_RELEASE && this.held && !this.lostController.signal.aborted) Promise.resolve().then(requestRelease).catch(() => undefined);
      else if (message === RELEASED) wake?.();
    });
    const deadline = performance.now() + this.options.acquireTimeoutMs;
    try {
      for (;;) {
        if (signal.aborted) throw ERRORS.ERR_LOCK_TIMEOUT;
        const sent = performance.now();
        if ((await this.command(() => redis.set(this.key, this.token, 'PX', this.leaseMs, 'NX'))) === 'OK') {
          this.redis = redis;
          this.unsubscribe = unsubscribe;
          this.held = true;
          this.renewed(sent);
          return;
        }
        await this.command(() => redis.publish(this.channel, ASK_RELEASE));
        const expiresIn = await this.command(() => redis.pttl(this.key));
        const left = deadline - performance.now();
        if (left <= 0) throw ERRORS.ERR_LOCK_TIMEOUT;
        await new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal.removeEventListener('abort', done);
            wake = undefined;
            resolve();
          };
          const timer = setTimeout(done, Math.min(left, MAX_POLL_MS, Math.max(expiresIn, 10)));
          signal.addEventListener('abort', done);
          wake = done;
        });
      }
    } catch (error) {
      unsubscribe();
      throw error;
    }
  }

  async unlock(): Promise<void> {
    if (!this.held) throw new Error('Releasing an unlocked lock!');
    this.held = false;
    clearTimeout(this.renewTimer);
    clearTimeout(this.lossTimer);
    const redis = this.redis!;
    // If Redis is unreachable the key simply expires within the lease; the work done under the
    // lock is not undone by that, so this never fails the request.
    await redis.lockRelease(this.key, this.channel, this.token).catch(() => 0);
    this.unsubscribe?.();
  }

  /** A SET or renewal sent at `sent` succeeded: the lease holds until `sent + lease - margin`. */
  private renewed(sent: number): void {
    this.validUntil = sent + this.leaseMs - this.leaseMs / 5;
    clearTimeout(this.lossTimer);
    this.lossTimer = setTimeout(() => this.lose(this.coordination.reachable ? CoordinationErrors.LEASE_LOST : undefined), this.validUntil - performance.now());
    this.lossTimer.unref();
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => void this.renew(), this.leaseMs / 3);
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    if (!this.held || this.lostController.signal.aborted) return;
    const sent = performance.now();
    let result: number;
    try {
      result = await this.redis!.lockRenew(this.key, this.token, this.leaseMs);
    } catch {
      // Try again soon; the loss timer ends the lease if Redis stays away.
      if (this.held && !this.lostController.signal.aborted) this.renewTimer = setTimeout(() => void this.renew(), Math.min(500, this.leaseMs / 10)).unref();
      return;
    }
    if (!this.held || this.lostController.signal.aborted) return;
    // Someone else holds it now (ours expired: this process was paused, or Redis lost the key).
    if (result !== 1) return this.lose(CoordinationErrors.LEASE_LOST);
    if (performance.now() >= this.validUntil) return this.lose(CoordinationErrors.LEASE_LOST);
    this.renewed(sent);
  }

  private lose(kind: (typeof CoordinationErrors)['LEASE_LOST'] | undefined): void {
    if (this.lostController.signal.aborted) return;
    clearTimeout(this.renewTimer);
    clearTimeout(this.lossTimer);
    this.lostController.abort(kind ? new kind() : this.coordination.unavailable());
  }

  /** A Redis command; a failure means Redis is unreachable (503), never a 500. */
  private async command<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch {
      throw this.coordination.unavailable();
    }
  }
}
