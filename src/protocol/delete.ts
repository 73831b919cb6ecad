import { clientGoneSignal, type ProtocolHandler } from '../endpoints/runtime.js';
import { Errors } from '../errors.js';
import { acquireUploadLock } from './lock.js';

/**
 * DELETE (termination): remove the upload's data and sidecar. Ours so that it also serves
 * `POST` + `X-HTTP-Method-Override: DELETE` (@tus/server dispatches on the real method), and so
 * the ownership checks and terminate hooks of later layers sit in one place.
 */
export const handleDelete: ProtocolHandler = async (runtime, context, _request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const lock = await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, clientGoneSignal(reply));
  try {
    const stored = await runtime.store.require(id, context);
    await runtime.store.removeStored(context, stored);
    runtime.quota.release(stored.sidecar.tusport.owner, id);
  } finally {
    await lock.release();
  }
  context.log.info({ uploadId: id }, 'upload terminated');
  return reply.code(204).send();
};
