import type { Lock, Locker } from '@tus/server';
import { leaseOf, type WriteFence } from '../coordination/fence.js';
import type { FastifyReply } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import { clientGoneSignal, type EndpointRuntime } from '../endpoints/runtime.js';
import { Errors, isCodedError } from '../errors.js';

export interface HeldLock extends WriteFence {
  /**
   * Aborted when another request has asked for this upload and the drain time has passed, or at
   * once when the lock's lease is lost (Redis): then with the error `assertHeld` throws.
   */
  handOver: AbortSignal;
  /** What the write paths check before each commit: throws once the lock is no longer ours (see fence.ts). */
  assertHeld(): void;
  release(): Promise<void>;
}

/**
 * Take an upload's lock through @tus/server's Locker interface, as its handlers do: a newcomer
 * asks the holder to release, and the holder gets `drainMs` to
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
    // Redis unreachable (503) is not contention.
    if (isCodedError(error)) throw error;
    // The lockers' ERR_LOCK_TIMEOUT would answer 500 "failed to acquire lock"; a client should retry.
    throw new Errors.LOCKED();
  }
  let released = false;
  const lease = leaseOf(lock);
  lease?.lost.addEventListener('abort', () => handOver.abort(lease.lost.reason), { once: true });
  return {
    handOver: handOver.signal,
    assertHeld: () => lease?.assertHeld(),
    async release() {
      if (released) return;
      released = true;
      clearTimeout(drainTimer);
      await lock.unlock();
    },
  };
}

/**
 * The lock of the upload a request names, taken only once the request may see that upload
 * (endpoint, params and owner checked from its sidecar): one locker serves every endpoint, and
 * asking for a lock makes its holder hand over. The caller re-reads the upload under the lock.
 */
export async function lockVisibleUpload(runtime: EndpointRuntime, context: UploadContext, id: string, reply: FastifyReply): Promise<HeldLock> {
  await runtime.store.authorize(id, context);
  return acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, clientGoneSignal(reply));
}
