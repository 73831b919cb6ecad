import { Metadata } from '@tus/server';
import type { ProtocolHandler } from '../endpoints/runtime.js';
import { Errors, isCodedError } from '../errors.js';
import { completionUnrecorded } from '../stores/endpoint-store.js';
import { lockVisibleUpload } from './lock.js';

/**
 * HEAD: report the offset. Ours because @tus/server's HEAD calls any upload older than the
 * expiry period gone (410), finished ones included. It takes the lock like @tus/server does,
 * so a client that resumes after a drop asks a half-dead PATCH to let go and then reads the
 * offset it left, not a number that is still growing. An upload a crash left complete but not
 * marked done is completed here: its client's HEAD is the last request it will send.
 */
export const handleHead: ProtocolHandler = async (runtime, context, request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const lock = await lockVisibleUpload(runtime, context, id, reply);
  let stored;
  try {
    stored = await runtime.store.require(id, context);
    if (completionUnrecorded(stored)) {
      try {
        await runtime.complete(context, stored);
      } catch (error) {
        // A final path already taken leaves the finished file where it is (logged): HEAD still
        // reports the complete upload, or the client would start over with a new one.
        if (!isCodedError(error) || error.statusCode !== 409) throw error;
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
  const expires = runtime.store.expiresAt(stored);
  if (expires) reply.header('Upload-Expires', expires.toUTCString());
  return reply.code(200).send();
};
