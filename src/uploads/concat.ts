import createError from '@fastify/error';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { acquireUploadLock, type HeldLock } from './lock.js';
import { storageError } from './storage-errors.js';
import type { StoredUpload } from '../stores/backend.js';
import { isComplete } from '../stores/endpoint-store.js';
import { type Created, createUpload } from './create.js';

export const ConcatErrors = {
  PARTIAL_NOT_FOUND: createError(
    'TUSPORT_ERR_PARTIAL_NOT_FOUND',
    'Partial upload %s not found: a final upload is made of partial uploads you created at this same endpoint URL',
    404,
  ),
  NOT_PARTIAL: createError('TUSPORT_ERR_NOT_PARTIAL', 'Upload %s is not a partial upload (those are created with Upload-Concat: partial)', 400),
  PARTIAL_UNFINISHED: createError('TUSPORT_ERR_PARTIAL_UNFINISHED', 'Partial upload %s is not finished (%s of %s bytes received): finish it before creating the final upload', 400),
  PARTIAL_EXPIRED: createError('TUSPORT_ERR_EXPIRED', 'Partial upload %s has expired', 410),
  INVALID: createError('TUSPORT_ERR_INVALID_CONCAT', 'Invalid concatenation: %s', 400),
  FINAL_TOO_LARGE: createError('TUSPORT_ERR_UPLOAD_TOO_LARGE', "The partial uploads add up to %s bytes, more than this endpoint's maxSize of %s bytes", 413),
  FINAL_NOT_WRITABLE: createError('TUSPORT_ERR_FINAL_UPLOAD', 'This is a final upload: its bytes are those of its partial uploads, and it takes no more', 403),
};

export function isPartial(stored: StoredUpload): boolean {
  return stored.sidecar.tusport.concat === 'partial';
}

/** The partial uploads a final upload is made of, in order; undefined for any other upload. */
export function partialsOf(stored: StoredUpload): readonly string[] | undefined {
  const concat = stored.sidecar.tusport.concat;
  return typeof concat === 'object' ? concat.final : undefined;
}

/**
 * Create a final upload from finished partial uploads (tus `concatenation`; what parallel uploads
 * use): a client sends a file's pieces as partial uploads at once, then asks for the final upload
 * made of them. Protocol-agnostic: the caller resolves its wire format (tus: `Upload-Concat:
 * final;<url> <url>`) into partial upload ids.
 *
 * - Each partial must be an upload the request may see (this endpoint, the same URL params, the
 *   same owner: 404 otherwise, as everywhere), created as partial (400), finished (400: this server
 *   does not offer `concatenation-unfinished`) and not expired (410). Their total is held to
 *   maxSize (413) before anything is made.
 * - The final upload is then created by `createUpload`, so policy, pre-create hooks, quotas and
 *   the refused-creation rule apply to it as to any upload; under the locks of the final and of
 *   every partial (re-read there: a concurrent final may have used them up), the store builds its
 *   bytes (disk: one copy, the first part in the kernel; S3: UploadPartCopy inside S3), and
 *   completion runs on it once: accept-sniffing, pre-finish, finalize, post-finish.
 * - Once it is complete the partials are removed, unless `concatenation.keepPartials` (then they
 *   can be used again, and expire like unfinished uploads). A final upload refused at completion
 *   (by a hook or `accept`) leaves the partials as they were: they expire.
 *
 * Partial uploads themselves (created with `createUpload({ concat: 'partial' })`) are internal:
 * no creation policy, no hooks, no upload metrics; their completion only seals them.
 */
export async function createFinalUpload(
  runtime: EndpointRuntime,
  context: UploadContext,
  request: { metadata: Record<string, string | null>; partials: readonly string[] },
): Promise<Created<Record<string, string>>> {
  const ids = request.partials;
  if (ids.length === 0) throw new ConcatErrors.INVALID('a final upload needs at least one partial upload');
  const twice = ids.find((id, index) => ids.indexOf(id) !== index);
  if (twice !== undefined) throw new ConcatErrors.INVALID(`partial upload ${twice} is named twice`);
  // Checked before anything is made; checked again under the locks below.
  const size = total(await findPartials(runtime, context, ids));
  const maxSize = runtime.config.maxSize;
  if (maxSize !== undefined && size > maxSize) throw new ConcatErrors.FINAL_TOO_LARGE(size, maxSize);
  return createUpload(runtime, context, { metadata: request.metadata, size, concat: { final: [...ids] } }, async ({ stored }) => {
    const locks = await lockAll(runtime, ids);
    try {
      const parts = await findPartials(runtime, context, ids);
      try {
        await runtime.store.backend.concatenate(context.place, stored, parts);
      } catch (error) {
        throw storageError(error, context.log, stored.sidecar.id);
      }
      stored.offset = total(parts);
      const headers = await runtime.complete(context, stored, { creating: true });
      if (!runtime.config.concatenation.keepPartials) await removePartials(runtime, context, parts);
      return headers;
    } finally {
      for (const lock of locks) await lock.release();
    }
  });
}

/** The partial uploads named, each visible to the request, partial, finished and not expired. */
async function findPartials(runtime: EndpointRuntime, context: UploadContext, ids: readonly string[]): Promise<StoredUpload[]> {
  const parts: StoredUpload[] = [];
  for (const id of ids) {
    const stored = await runtime.store.find(id, context);
    if (!stored) throw new ConcatErrors.PARTIAL_NOT_FOUND(id);
    if (!isPartial(stored)) throw new ConcatErrors.NOT_PARTIAL(id);
    if (!isComplete(stored)) throw new ConcatErrors.PARTIAL_UNFINISHED(id, stored.offset, stored.sidecar.size ?? 'an undeclared number of');
    if (runtime.store.isExpired(stored)) throw new ConcatErrors.PARTIAL_EXPIRED(id);
    parts.push(stored);
  }
  return parts;
}

/** Locks in a fixed order, so two finals sharing partials never wait for each other in a circle. */
async function lockAll(runtime: EndpointRuntime, ids: readonly string[]): Promise<HeldLock[]> {
  const locks: HeldLock[] = [];
  try {
    for (const id of [...ids].sort()) locks.push(await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, new AbortController().signal));
  } catch (error) {
    for (const lock of locks) await lock.release();
    throw error;
  }
  return locks;
}

/** The final upload is complete: its partials have served. One that cannot be removed now expires later. */
async function removePartials(runtime: EndpointRuntime, context: UploadContext, parts: readonly StoredUpload[]): Promise<void> {
  for (const part of parts) {
    try {
      await runtime.store.removeStored(context, part);
    } catch (error) {
      context.log.warn({ uploadId: part.sidecar.id, err: error }, 'could not remove a partial upload after concatenation; it is swept once it expires');
    }
  }
}

function total(parts: readonly StoredUpload[]): number {
  return parts.reduce((sum, part) => sum + part.offset, 0);
}
