import { Metadata } from '@tus/server';
import type { ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors, isCodedError } from '../../errors.js';
import { completionPending, completionStep } from '../../uploads/completion.js';
import { uploadConcatHeader } from './concat.js';
import { lockVisibleUpload } from '../../uploads/lock.js';

/**
 * HEAD: report the offset. Ours because @tus/server's HEAD calls any upload older than the
 * expiry period gone (410), finished ones included. It takes the lock like @tus/server does,
 * so a client that resumes after a drop asks a half-dead PATCH to let go and then reads the
 * offset it left, not a number that is still growing. An upload whose completion a crash or a
 * failing store step left half-way is carried on here (its client's HEAD may be the last request
 * it sends). While its last bytes are not yet recorded as received, a failure answers 503/507.
 */
export const handleHead: ProtocolHandler = async (runtime, context, request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const lock = await lockVisibleUpload(runtime, context, id, reply);
  let stored;
  try {
    stored = await runtime.store.require(id, context);
    if (completionPending(stored)) {
      try {
        await runtime.complete(context, stored);
      } catch (error) {
        // Once its bytes are recorded as received the upload is complete for its client; moving
        // and announcing it are the server's to finish (this HEAD tried; the next request or the
        // sweep tries again). HEAD reports that truth rather than a 503: tus-js-client and Uppy
        // take a failed HEAD for a lost upload and send the whole file again as a new one. A final
        // path already taken leaves the finished file where it is, for the same reason.
        if (completionStep(stored.sidecar) === undefined) throw error;
        if (!isCodedError(error) || error.statusCode !== 409) {
          context.log.warn({ uploadId: id, err: error }, 'completion is still stalled; HEAD reports the received upload, the sweep carries it on');
        }
      }
    }
  } finally {
    await lock.release();
  }
  if (runtime.store.isExpired(stored)) throw new Errors.UPLOAD_EXPIRED();
  reply.header('Cache-Control', 'no-store');
  reply.header('Upload-Offset', String(stored.offset));
  if (stored.sidecar.size === undefined) reply.header('Upload-Defer-Length', '1');
  else reply.header('Upload-Length', String(stored.sidecar.size));
  if (stored.sidecar.metadata) reply.header('Upload-Metadata', Metadata.stringify(stored.sidecar.metadata));
  const concat = uploadConcatHeader(context, stored);
  if (concat) reply.header('Upload-Concat', concat);
  const expires = runtime.store.expiresAt(stored);
  if (expires) reply.header('Upload-Expires', expires.toUTCString());
  return reply.code(200).send();
};
