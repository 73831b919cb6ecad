import { ERRORS } from '@tus/server';
import { describe, expect, it } from 'vitest';
import { MemoryLocker } from '../../src/coordination/memory-locker.js';

/**
 * tusport's in-process locker (src/coordination/memory-locker.ts) keeps @tus/server's MemoryLocker
 * semantics with no timer or AbortController on the uncontended path. What the handlers rely on:
 * one holder per id, a newcomer asks the holder to let go and gets the lock when it does, and a
 * waiter that gives up (timeout, or its request gone) never takes the lock afterwards.
 */

const never = () => new AbortController().signal;
const noop = () => undefined;
/** Resolves with 'pending' if `promise` has not settled by the next macrotask. */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  const result = await Promise.race([promise.then(() => 'resolved' as const, () => 'rejected' as const), new Promise<'pending'>((r) => setTimeout(() => r('pending'), 20))]);
  return result;
}

describe('MemoryLocker', () => {
  it('gives a free lock at once and again after unlock; different ids do not contend', async () => {
    const locker = new MemoryLocker();
    const a = locker.newLock('a');
    await a.lock(never(), noop);
    await locker.newLock('b').lock(never(), noop);
    await a.unlock();
    const again = locker.newLock('a');
    await again.lock(never(), noop);
    await again.unlock();
  });

  it('a newcomer asks the holder to release and takes the lock once it lets go', async () => {
    const locker = new MemoryLocker();
    const holder = locker.newLock('x');
    let asked = 0;
    await holder.lock(never(), async () => {
      asked++;
    });
    const newcomer = locker.newLock('x');
    const waiting = newcomer.lock(never(), noop);
    expect(await state(waiting)).toBe('pending');
    expect(asked).toBe(1);
    await holder.unlock();
    await waiting;
    // The lock is the newcomer's now: a third request waits in turn.
    const third = locker.newLock('x').lock(never(), noop);
    expect(await state(third)).toBe('pending');
    await newcomer.unlock();
    await third;
  });

  it('gives up with ERR_LOCK_TIMEOUT after the acquire timeout, and never takes the lock later', async () => {
    const locker = new MemoryLocker(50);
    const holder = locker.newLock('x');
    await holder.lock(never(), noop);
    const late = locker.newLock('x');
    await expect(late.lock(never(), noop)).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    await holder.unlock();
    await new Promise((r) => setImmediate(r));
    expect(locker.held.has('x')).toBe(false);
    await expect(late.unlock()).rejects.toThrow('Releasing an unlocked lock!');
  });

  it('gives up when its request is gone (stop signal), even with a wake-up already queued', async () => {
    const locker = new MemoryLocker();
    const holder = locker.newLock('x');
    await holder.lock(never(), noop);
    const stop = new AbortController();
    const waiting = locker.newLock('x').lock(stop.signal, noop);
    expect(await state(waiting)).toBe('pending');
    // The holder lets go (queueing the waiter's retry) and the request goes away in the same turn.
    await holder.unlock();
    stop.abort();
    await expect(waiting).rejects.toBe(ERRORS.ERR_LOCK_TIMEOUT);
    await new Promise((r) => setImmediate(r));
    expect(locker.held.has('x')).toBe(false);
  });

  it('refuses to release a lock it does not hold', async () => {
    const locker = new MemoryLocker();
    const holder = locker.newLock('x');
    await holder.lock(never(), noop);
    await expect(locker.newLock('x').unlock()).rejects.toThrow('Releasing an unlocked lock!');
    expect(locker.held.has('x')).toBe(true);
  });
});
