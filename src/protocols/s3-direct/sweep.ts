import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { isCodedError } from '../../errors.js';
import { acquireUploadLock } from '../../uploads/lock.js';
import { backgroundContext } from '../../uploads/background-context.js';
import type { S3StoreConfig } from '../../stores/s3/schema.js';
import type { Sidecar } from '../../stores/sidecar.js';
import type { SweepHook } from '../../uploads/sweep-hooks.js';
import { finishLocked } from './finish.js';
import { completePost, formExpired, retirePost, stagingKey } from './staging.js';
import type { DirectS3 } from './s3.js';

/**
 * The sweep's part for presigned-POST uploads, as the store's walk finds their marker multipart
 * uploads: abandoned ones whose file arrived are finished; finished ones whose form expired lose
 * their staging key and marker (staging.ts).
 */
export function directSweepHook(runtime: EndpointRuntime): SweepHook {
  return {
    name: 'direct presigned POST uploads',
    storeOptions: ({ locker, log, now }) => ({ noticeDirect: directNoticer(runtime, locker, log, now) }),
  };
}

/**
 * For the sweep: a presigned-POST upload, by its marker.
 *
 * Unfinished, its file in the bucket, but its client never asked tusport to complete it (Uppy has
 * no such call; an app may forget it, or its page was closed first): the sweep finishes it as the
 * client would have (size and type checked, finalize, post-finish), as its owner, with no request
 * to tell hooks about ('completed').
 *
 * Finished, and its form expired (by S3's clock too: `CLOCK_MARGIN_MS`): whatever a POST after
 * completion left at the staging key is deleted, and the marker aborted ('leftovers').
 */
export function directNoticer(runtime: EndpointRuntime, locker: Locker, log: FastifyBaseLogger, now: number) {
  let loading: Promise<DirectS3> | undefined;
  const s3 = () => (loading ??= import('./s3.js').then(({ DirectS3 }) => new DirectS3(runtime.config.store as S3StoreConfig)));
  const lifetimeMs = runtime.config.direct?.urlLifetime ?? 0;
  return async (place: string, sidecar: Sidecar, multipartId: string): Promise<'completed' | 'leftovers' | undefined> => {
    const { params } = sidecar.tusport;
    // Only where the upload's own params put it.
    let expected;
    try {
      expected = runtime.store.backend.place(params);
    } catch {
      return undefined;
    }
    if (expected !== place) return undefined;
    const key = place + sidecar.id;
    if (sidecar.tusport.completed_at !== undefined) {
      if (!formExpired(sidecar, lifetimeMs, now)) return undefined;
      await retirePost(await s3(), key, multipartId);
      log.info({ uploadId: sidecar.id, endpoint: runtime.template.source }, 'sweep cleared a finished direct POST upload whose form expired');
      return 'leftovers';
    }
    const client = await s3();
    if ((await client.size(stagingKey(key))) === undefined && (await client.size(key)) === undefined) return undefined;
    return (await finishArrived(runtime, locker, log, client, place, sidecar)) ? 'completed' : undefined;
  };
}

async function finishArrived(runtime: EndpointRuntime, locker: Locker, log: FastifyBaseLogger, client: DirectS3, place: string, sidecar: Sidecar): Promise<boolean> {
  const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
  if (!lock) return false;
  try {
    const context = backgroundContext(runtime, sidecar, place, log);
    const stored = await runtime.store.find(sidecar.id, context);
    if (!stored || stored.sidecar.tusport.completed_at !== undefined) return false;
    const key = place + sidecar.id;
    try {
      await finishLocked(runtime, context, client, stored, key, completePost(context, client, { id: sidecar.id, key }), { background: true });
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
}
