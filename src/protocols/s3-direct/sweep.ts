import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { isCodedError } from '../../errors.js';
import { acquireUploadLock } from '../../uploads/lock.js';
import { backgroundContext } from '../../uploads/background-context.js';
import type { S3StoreConfig } from '../../stores/s3/schema.js';
import type { Sidecar } from '../../stores/sidecar.js';
import type { SweepHook } from '../../uploads/sweep-hooks.js';
import { completePost, finishLocked } from './finish.js';
import type { DirectS3 } from './s3.js';

/** The sweep's part for direct uploads: abandoned presigned POSTs whose file arrived are finished. */
export function directSweepHook(runtime: EndpointRuntime): SweepHook {
  return {
    name: 'abandoned direct uploads',
    storeOptions: ({ locker, log }) => ({ noticeDirect: directNoticer(runtime, locker, log) }),
  };
}

/**
 * For the sweep: a presigned-POST upload whose file is in the bucket but whose client never asked
 * tusport to complete it (Uppy has no such call; an app may forget it, or its page was closed
 * first). The sweep finishes it as the client would have (size and type checked, finalize,
 * post-finish), as its owner, with no request to tell hooks about. Resolves true when it did.
 */
export function directNoticer(runtime: EndpointRuntime, locker: Locker, log: FastifyBaseLogger) {
  let loading: Promise<DirectS3> | undefined;
  const s3 = () => (loading ??= import('./s3.js').then(({ DirectS3 }) => new DirectS3(runtime.config.store as S3StoreConfig)));
  return async (place: string, sidecar: Sidecar, multipartId: string): Promise<boolean> => {
    const { params } = sidecar.tusport;
    // Only where the upload's own params put it.
    let expected;
    try {
      expected = runtime.store.backend.place(params);
    } catch {
      return false;
    }
    if (expected !== place) return false;
    const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
    if (!lock) return false;
    try {
      const context = backgroundContext(runtime, sidecar, place, log);
      const stored = await runtime.store.find(sidecar.id, context);
      if (!stored || stored.sidecar.tusport.completed_at !== undefined) return false;
      const client = await s3();
      const key = place + sidecar.id;
      try {
        await finishLocked(runtime, context, client, stored, key, completePost(context, client, { id: sidecar.id, key, multipartId }), { background: true });
      } catch (error) {
        // Refused (too large, not accepted): removed, and that was the sweep's work on it.
        if (isCodedError(error) && error.statusCode >= 400 && error.statusCode < 500 && error.statusCode !== 409) return true;
        throw error;
      }
      log.info({ uploadId: sidecar.id, endpoint: runtime.template.source }, 'sweep finished a direct upload whose file had arrived');
      return true;
    } finally {
      await lock.release();
    }
  };
}
