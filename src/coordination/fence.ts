import type { Lock } from '@tus/server';

/**
 * What a store's write path asks right before each commit (a disk write, an S3 UploadPart or
 * sidecar write): is the upload's lock still this request's? `assertHeld` throws the error to
 * answer with (423 `TUSPORT_ERR_LOCK_LOST`, or 503 when Redis is unreachable) once it is not, so a
 * holder whose lease lapsed never writes over what the next holder wrote. A memory lock never lapses.
 */
export interface WriteFence {
  assertHeld(): void;
}

/** A lock held as a lease (the Redis locker): it can lapse while held. */
export interface Lease extends WriteFence {
  /** Aborted (with the error `assertHeld` throws) the moment the lease is known to be lost. */
  readonly lost: AbortSignal;
}

export interface LeasedLock extends Lock {
  readonly lease: Lease;
}

/** The lease of a lock that has one (Redis), else undefined (memory). */
export function leaseOf(lock: Lock): Lease | undefined {
  return (lock as Partial<LeasedLock>).lease;
}

/**
 * Run a commit of an upload's bytes or state for the holder of `fence`: refused at once when the
 * lock is no longer held, and a commit that fails after the lock was lost (it tripped on what the
 * next holder did: the upload finished, moved or gone) answers as the loss (423
 * `TUSPORT_ERR_LOCK_LOST`), not as a storage failure. Every write path gets this answer here, in
 * the store, whichever protocol called it (PATCH, creation with upload, a form's file, the IETF draft).
 */
export async function fenced<T>(fence: WriteFence | undefined, commit: () => Promise<T>): Promise<T> {
  fence?.assertHeld();
  try {
    return await commit();
  } catch (error) {
    fence?.assertHeld();
    throw error;
  }
}
