import type { FastifyReply } from 'fastify';
import type { UploadContext } from '../../endpoints/context.js';
import { UPLOAD_ID } from '../../endpoints/routes.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { Errors, isCodedError } from '../../errors.js';
import { lockVisibleUpload } from '../../uploads/lock.js';
import { storageError } from '../../uploads/storage-errors.js';
import type { StoredUpload } from '../../stores/backend.js';
import { isNoSuchUpload } from '../../stores/s3/errors.js';
import { readInfo } from '../../stores/s3/info.js';
import type { Sidecar } from '../../stores/sidecar.js';
import { type CompletionRequest, completionStep } from '../../uploads/completion.js';
import { DirectErrors } from './errors.js';
import { OBJECT_MAX_BYTES } from './limits.js';
import type { DirectS3 } from './s3.js';

/** A direct upload of the requesting principal, found from what the client sent back. */
export interface OwnUpload {
  id: string;
  key: string;
  multipartId: string;
  sidecar: Sidecar;
}

/**
 * The upload behind `key` (and, for the multipart routes, `multipartId`), if it is a direct upload
 * this principal may see: the key must be one tusport handed out under this request's prefix, the
 * sidecar must say endpoint, params and owner match, and the multipart id must be the one recorded.
 * Anything else, someone else's upload included, is 404: its existence is not revealed.
 */
export async function findOwnUpload(runtime: EndpointRuntime, context: UploadContext, s3: DirectS3, key: unknown, multipartId?: string): Promise<OwnUpload> {
  if (typeof key !== 'string' || !key.startsWith(context.place)) throw new Errors.UPLOAD_NOT_FOUND();
  const id = key.slice(context.place.length);
  if (!UPLOAD_ID.test(id)) throw new Errors.UPLOAD_NOT_FOUND();
  await runtime.store.authorize(id, context);
  let info;
  try {
    info = await readInfo(s3.client, s3.bucket, key);
  } catch (error) {
    throw storageError(error, context.log, id);
  }
  if (!info?.sidecar.tusport.direct || !info.multipartId || (multipartId !== undefined && info.multipartId !== multipartId)) throw new Errors.UPLOAD_NOT_FOUND();
  if (runtime.store.isExpired({ sidecar: info.sidecar, offset: 0, location: key })) throw new Errors.UPLOAD_EXPIRED();
  return { id, key, multipartId: info.multipartId, sidecar: info.sidecar };
}

/** The largest object this upload may become: the endpoint's maxSize, or its upload token's if smaller. */
export function sizeLimit(runtime: EndpointRuntime, sidecar: Sidecar): number {
  return Math.min(runtime.config.maxSize ?? OBJECT_MAX_BYTES, sidecar.tusport.maxSize ?? Number.MAX_SAFE_INTEGER);
}

export interface FinishAnswer {
  location: string;
  key: string;
  bucket: string;
  id: string;
}

/**
 * Completion of a direct upload: the bytes are in the bucket (the client's multipart upload, which
 * `settle` completes, or its presigned POST, which `settle` copies from the staging key: staging.ts).
 * tusport checks the object (HeadObject: its size
 * within the limit), then hands it to the same completion as tus uploads (src/uploads/completion.ts:
 * the accept list checked against the first bytes, pre-finish hooks, finalize, post-finish). An
 * object that fails a check is deleted with its sidecar, and the client told why. Asking again
 * after success answers the same (completion carries on where it stopped, if it did).
 */
export async function finishDirectUpload(
  runtime: EndpointRuntime,
  context: UploadContext,
  s3: DirectS3,
  own: OwnUpload,
  reply: FastifyReply,
  settle: (stored: StoredUpload) => Promise<void>,
): Promise<FinishAnswer> {
  const lock = await lockVisibleUpload(runtime, context, own.id, reply);
  try {
    const stored = await runtime.store.require(own.id, context);
    await finishLocked(runtime, context, s3, stored, own.key, settle);
    return { location: `${context.origin}${context.basePath}/${own.id}`, key: stored.location, bucket: s3.bucket, id: own.id };
  } finally {
    await lock.release();
  }
}

/** `finishDirectUpload` once the upload's lock is held (the sweep comes in here too). */
export async function finishLocked(
  runtime: EndpointRuntime,
  context: UploadContext,
  s3: DirectS3,
  stored: StoredUpload,
  key: string,
  settle: (stored: StoredUpload) => Promise<void>,
  request: CompletionRequest = {},
): Promise<void> {
  const id = stored.sidecar.id;
  if (completionStep(stored.sidecar) === undefined) {
    await settle(stored);
    const size = await guard(context, id, () => s3.size(key));
    if (size === undefined) throw new DirectErrors.NOT_UPLOADED();
    const limit = sizeLimit(runtime, stored.sidecar);
    if (size > limit) await refuse(runtime, context, stored, new DirectErrors.TOO_LARGE(size, limit));
    stored.sidecar.size = size;
    stored.offset = size;
    stored.location = key;
  }
  await runtime.complete(context, stored, request);
}

/** The multipart flavour of `settle`: refuse too many bytes before S3 joins them, then complete. */
export function completeMultipart(runtime: EndpointRuntime, context: UploadContext, s3: DirectS3, own: OwnUpload, parts: { PartNumber: number; ETag: string }[]) {
  return async (stored: StoredUpload): Promise<void> => {
    let listed;
    try {
      listed = await s3.listParts(own.key, own.multipartId);
    } catch (error) {
      // Completed before (a crash between S3's completion and our record of it): the object is there.
      if (isNoSuchUpload(error) && (await guard(context, own.id, () => s3.size(own.key))) !== undefined) return;
      if (isNoSuchUpload(error)) throw new Errors.UPLOAD_NOT_FOUND();
      throw storageError(error, context.log, own.id);
    }
    const total = listed.reduce((sum, part) => sum + part.Size, 0);
    const limit = sizeLimit(runtime, stored.sidecar);
    if (total > limit) await refuse(runtime, context, stored, new DirectErrors.TOO_LARGE(total, limit));
    try {
      await s3.complete(own.key, own.multipartId, parts);
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      // InvalidPart, InvalidPartOrder, EntityTooSmall, MalformedXML: the client's list is wrong; the upload stays.
      if (status === 400) throw new DirectErrors.PARTS_REJECTED(`${(error as Error).name}: ${(error as Error).message}`);
      throw storageError(error, context.log, own.id);
    }
  };
}

/** Delete the upload (object, multipart upload, sidecar), give its quota slot back, and answer `error`. */
async function refuse(runtime: EndpointRuntime, context: UploadContext, stored: StoredUpload, error: Error): Promise<never> {
  await guard(context, stored.sidecar.id, () => runtime.store.removeStored(context, stored));
  await runtime.quota.release(stored.sidecar.tusport.owner, stored.sidecar.id);
  context.log.warn({ uploadId: stored.sidecar.id, reason: error.message }, 'direct upload refused at completion; deleted');
  throw error;
}

/** A storage failure as the core's coded error (a coded error as it is). */
export async function guard<T>(context: UploadContext, id: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isCodedError(error)) throw error;
    throw storageError(error, context.log, id);
  }
}
