import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import type { StoredUpload } from '../../stores/backend.js';
import { isComplete } from '../../stores/endpoint-store.js';
import { acquireUploadLock, lockVisibleUpload } from '../../uploads/lock.js';

/**
 * DELETE (termination): remove the upload's data and sidecar. Ours so that it also serves
 * `POST` + `X-HTTP-Method-Override: DELETE` (@tus/server dispatches on the real method), and so
 * the ownership checks and terminate hooks sit in one place: pre-terminate hooks may refuse
 * (the upload stays), post-terminate notifications are queued before the 204.
 */
export const handleDelete: ProtocolHandler = async (runtime, context, _request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const lock = await lockVisibleUpload(runtime, context, id, reply);
  try {
    const stored = await runtime.store.require(id, context);
    await runtime.hooks.preTerminate(context, stored);
    await terminate(runtime, context, stored);
  } finally {
    await lock.release();
  }
  context.log.info({ uploadId: id }, 'upload terminated');
  return reply.code(204).send();
};

/**
 * A post-receive hook answered StopUpload: terminate the upload as tusd does, so further PATCHes
 * get 404. Waits for the PATCH in progress to let go of the lock; a finished upload is left alone.
 */
export async function terminateStoppedUpload(runtime: EndpointRuntime, context: UploadContext, id: string): Promise<void> {
  try {
    const lock = await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, new AbortController().signal);
    try {
      const stored = await runtime.store.find(id, context);
      if (!stored || stored.sidecar.tusport.completed_at || isComplete(stored)) return;
      await terminate(runtime, context, stored);
    } finally {
      await lock.release();
    }
    context.log.info({ uploadId: id }, 'upload stopped by a post-receive hook and terminated');
  } catch (error) {
    context.log.error({ uploadId: id, err: error }, 'could not terminate the upload a post-receive hook stopped');
  }
}

async function terminate(runtime: EndpointRuntime, context: UploadContext, stored: StoredUpload): Promise<void> {
  await runtime.store.removeStored(context, stored);
  await runtime.quota.release(stored.sidecar.tusport.owner, stored.sidecar.id);
  await runtime.hooks.notify('post-terminate', context, stored);
}
