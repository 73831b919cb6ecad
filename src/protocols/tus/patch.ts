import { checkSignedSize } from '../../auth/signed-token.js';
import { isLengthBody, settleLengthAtOffset } from '../../uploads/length-from-body.js';
import type { ProtocolHandler } from '../../endpoints/runtime.js';
import type { UploadContext } from '../../endpoints/context.js';
import { Errors } from '../../errors.js';
import { hookRejection, type HookRejection } from '../../hooks/errors.js';
import type { StoredUpload, WriteResult } from '../../stores/backend.js';
import { closeAfterAnswer } from '../../limits/linger.js';
import { isComplete } from '../../stores/endpoint-store.js';
import { completionPending } from '../../uploads/completion.js';
import { ConcatErrors, partialsOf } from '../../uploads/concat.js';
import { terminateStoppedUpload } from './delete.js';
import { type HeldLock, lockVisibleUpload } from '../../uploads/lock.js';
import { ChecksumVerifier, checksumRefusal } from './checksum.js';
import { integerHeader } from './preconditions.js';
import { storageError } from '../../uploads/storage-errors.js';

const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

/**
 * PATCH: append the body at Upload-Offset. Ours rather than @tus/server's because its write path
 * turns the Node request into a web stream and back (about half the disk's throughput here),
 * has no per-request chunk limit, never fsyncs before acknowledging, and leaves bytes past
 * Upload-Length half-written. Locking and offsets follow @tus/server's handler exactly.
 */
export const handlePatch: ProtocolHandler = async (runtime, context, request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const offset = integerHeader(request, 'upload-offset');
  if (offset === undefined) throw new Errors.INVALID_HEADER('Upload-Offset', 'missing (PATCH requests must say where their bytes go)');
  const contentType = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (contentType !== OFFSET_OCTET_STREAM) throw new Errors.INVALID_CONTENT_TYPE();
  // A malformed Upload-Checksum or an unknown algorithm is refused before anything is touched.
  const verifier = ChecksumVerifier.fromRequest(request.raw);

  const { store, config } = runtime;
  const lock = await lockVisibleUpload(runtime, context, id, reply);
  let stored: StoredUpload;
  let result: WriteResult;
  // A post-receive hook may answer StopUpload: this PATCH is cut short and the upload terminated.
  const stop = new AbortController();
  try {
    stored = await store.require(id, context);
    if (partialsOf(stored)) {
      closeAfterAnswer(reply);
      throw new ConcatErrors.FINAL_NOT_WRITABLE();
    }
    if (store.isExpired(stored)) throw new Errors.UPLOAD_EXPIRED();
    if (stored.offset !== offset) {
      reply.header('Upload-Offset', String(stored.offset));
      throw new Errors.OFFSET_MISMATCH(offset, stored.offset);
    }
    const alreadyComplete = isComplete(stored);
    const declared = integerHeader(request, 'upload-length');
    if (declared !== undefined) {
      if (stored.sidecar.size !== undefined) throw new Errors.LENGTH_ALREADY_SET();
      if (declared < stored.offset) throw new Errors.INVALID_HEADER('Upload-Length', `${declared} is less than the ${stored.offset} bytes already received`);
      if (config.maxSize !== undefined && declared > config.maxSize) throw new Errors.UPLOAD_TOO_LARGE(declared, config.maxSize);
      checkSignedSize(context.principal?.scope, declared);
      checkSignedSize(stored.sidecar.tusport, declared);
      // Checked against the owner's maxBytesInFlight before anything is recorded.
      await runtime.quota.resize(stored.sidecar, declared);
      await store.setLength(context, stored, declared);
    }
    const size = stored.sidecar.size;
    // A deferred length may grow up to maxSize: the endpoint's, or if smaller that of this request's
    // signed token or of the one the upload was created under.
    const maxSize = Math.min(
      config.maxSize ?? Number.MAX_SAFE_INTEGER,
      context.principal?.scope?.maxSize ?? Number.MAX_SAFE_INTEGER,
      stored.sidecar.tusport.maxSize ?? Number.MAX_SAFE_INTEGER,
    );
    const remaining = (size ?? maxSize) - offset;
    // Past what the upload may hold: its declared length, or for a deferred length, maxSize.
    const pastEnd = () => (size !== undefined ? new Errors.PAST_UPLOAD_LENGTH(remaining, contentLength ?? 'more') : new Errors.PAST_MAX_SIZE(maxSize));
    const contentLength = request.headers['content-length'];
    // Without a length a body is only known to be too long once its bytes are stored; disk can
    // cut them off again, S3 parts cannot. A checksummed body is held back until it is verified
    // (see WriteLimits.verify), so it reaches no store too long either.
    if (contentLength === undefined && !store.backend.canTruncate && !verifier) throw new Errors.LENGTH_REQUIRED();
    if (contentLength !== undefined && Number(contentLength) > remaining) {
      closeAfterAnswer(reply);
      throw pastEnd();
    }
    if (alreadyComplete) {
      // Nothing more can go in (and a finalized upload's bytes have moved): only an empty PATCH,
      // a client re-sending its last request, gets its 204.
      const emptyBody = contentLength === '0' || (contentLength === undefined && request.headers['transfer-encoding'] === undefined);
      if (!emptyBody) throw pastEnd();
      if (completionPending(stored)) await runtime.complete(context, stored);
      reply.header('Upload-Offset', String(stored.offset));
      return reply.code(204).send();
    }
    const limit = Math.min(remaining, config.maxChunkSize ?? Number.MAX_SAFE_INTEGER);
    // A deferred length counts the bytes it receives against the owner's maxBytesInFlight: this
    // request may bring only what fits (all of its Content-Length, or the body is cut there).
    const claimed = size === undefined && runtime.quota.countsBytes;
    let quotaLimit = limit;
    if (claimed) {
      try {
        quotaLimit = await runtime.quota.claim(stored.sidecar, offset, Math.min(limit, contentLength === undefined ? limit : Number(contentLength)), contentLength !== undefined);
      } catch (error) {
        closeAfterAnswer(reply);
        throw error;
      }
    }
    const progress = runtime.hooks.watchProgress(context, stored, request.raw, (response) => {
      if (stop.signal.aborted) return;
      stop.abort(hookRejection('STOPPED', 'The upload has been stopped by the server', response));
      void terminateStoppedUpload(runtime, context, id);
    });
    try {
      const limits = { limit: Math.min(limit, quotaLimit), verify: verifier, fence: lock };
      result = await store.writeChunk(context, id, request.raw, offset, limits, progress ? AbortSignal.any([lock.handOver, stop.signal]) : lock.handOver);
      // A lock lost mid-write (Redis lease lapsed): stop here, acknowledge nothing, commit nothing more.
      lock.assertHeld();
    } catch (error) {
      progress?.end(undefined);
      if (claimed) await runtime.quota.settle(stored.sidecar, offset);
      throw storageError(error, context.log, id);
    }
    // A verified write that does not count has been undone by the store already.
    const undo = () => (verifier ? Promise.resolve() : store.truncate(context, id, offset));
    if (result.kind === 'rejected') {
      // The body arrived whole and its checksum says it is not what the client sent: none of it counts.
      progress?.end(undefined);
      if (claimed) await runtime.quota.settle(stored.sidecar, offset);
      throw checksumRefusal(verifier!, reply);
    }
    if (result.kind === 'limit' && quotaLimit < limit) {
      // Past the owner's quota: undo this request (nothing of it was acknowledged) and say why.
      progress?.end(undefined);
      closeAfterAnswer(reply);
      await undo();
      await runtime.quota.settle(stored.sidecar, offset);
      throw runtime.quota.exceeded();
    }
    if (claimed) await runtime.quota.settle(stored.sidecar, result.offset);
    // Bytes past Upload-Length are undone below: no progress to report for them.
    progress?.end(result.kind === 'limit' && limit === remaining ? undefined : result.offset);
    if (result.kind === 'limit') {
      closeAfterAnswer(reply);
      if (limit === remaining) {
        // The client meant to send more than the upload holds: its data is not what it declared.
        // Nothing of this request was acknowledged, so undo it and keep the offset where it was.
        await undo();
        throw pastEnd();
      }
      // Cut at the chunk limit: the bytes before it are good and stay, resumable from here (unless
      // checksummed: unverifiable, they were dropped and the offset is where it was).
      reply.header('Upload-Offset', String(result.offset));
      throw new Errors.CHUNK_TOO_LARGE(limit);
    }
    stored.offset = result.offset;
    // A body that ends the upload (an IETF completing append without a length): its length is known now.
    if (result.kind === 'complete' && stored.sidecar.size === undefined && isLengthBody(request)) await settleLengthAtOffset(runtime, context, stored);
    // Still under the lock: completion may check, move or delete the upload's bytes.
    if (isComplete(stored)) {
      for (const [name, value] of Object.entries(await runtime.complete(context, stored, { undoTo: offset }))) reply.header(name, value);
    }
  } finally {
    await lock.release();
  }
  // A stop that came too late to cut anything off changes nothing: the upload is complete.
  if (stop.signal.aborted && !isComplete(stored)) {
    closeAfterAnswer(reply);
    throw stop.signal.reason as HookRejection;
  }

  if (result.kind === 'interrupted') {
    const kept = verifier ? 'checksummed, so received bytes dropped' : 'received bytes kept';
    context.log.info({ uploadId: id, offset: result.offset, reason: String(result.reason) }, `PATCH interrupted; ${kept}`);
    closeAfterAnswer(reply);
  }
  reply.header('Upload-Offset', String(stored.offset));
  const expires = store.expiresAt(stored);
  if (expires) reply.header('Upload-Expires', expires.toUTCString());
  return reply.code(204).send();
};
