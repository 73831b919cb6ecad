import type { Lock, Locker } from '@tus/server';
import { Errors } from '../errors.js';

export interface HeldLock {
  /** Aborted when another request has asked for this upload and the drain time has passed. */
  handOver: AbortSignal;
  release(): Promise<void>;
}

/**
 * Take an upload's lock the way @tus/server's handlers do, so our handlers and its handlers
 * exclude each other: a newcomer asks the holder to release, and the holder gets `drainMs` to
 * wrap up before `handOver` fires. This is how a client that reconnects after a network drop
 * gets its upload back from a PATCH whose socket is half-dead.
 */
export async function acquireUploadLock(locker: Locker, id: string, drainMs: number, requestGone: AbortSignal): Promise<HeldLock> {
  const handOver = new AbortController();
  let drainTimer: NodeJS.Timeout | undefined;
  const lock: Lock = locker.newLock(id);
  try {
    await lock.lock(requestGone, async () => {
      drainTimer ??= setTimeout(() => handOver.abort(new Errors.LOCKED()), drainMs);
    });
  } catch (error) {
    if (requestGone.aborted) throw error;
    // MemoryLocker's timeout answers 500 "failed to acquire lock"; a client should retry.
    throw new Errors.LOCKED();
  }
  let released = false;
  return {
    handOver: handOver.signal,
    async release() {
      if (released) return;
      released = true;
      clearTimeout(drainTimer);
      await lock.unlock();
    },
  };
}
