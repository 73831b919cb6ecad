import { checkSignedSize } from '../auth/signed-token.js';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { placeholdersOf } from '../endpoints/template.js';
import { Errors } from '../errors.js';
import { declaredAccepted, parseAccept } from '../policy/accept.js';
import { checkCreationPolicy, PolicyErrors } from '../policy/creation.js';
import { acquireUploadLock, type HeldLock } from './lock.js';
import type { StoredUpload } from '../stores/backend.js';
import { FinalizeErrors } from '../stores/finalize-errors.js';
import { renderFinalPath } from '../stores/finalize.js';
import type { SidecarTusport } from '../stores/sidecar.js';
import { completionStep } from './completion.js';

import { newUploadId } from './ids.js';

/** Opaque, unguessable, one URL segment, newest sorting first (src/uploads/ids.ts). */
export { newUploadId };

/**
 * A partial upload's ids end in `-partial`: an S3 sweep can then tell finished partial uploads
 * (plain objects, no longer open multipart uploads) from finished files by their keys alone.
 */
export const PARTIAL_ID_SUFFIX = '-partial';

/** What a protocol asks for, translated from its wire format. */
export interface NewUpload {
  /** Decoded metadata (tus Upload-Metadata, a form's fields). */
  metadata: Record<string, string | null>;
  /** Declared length in bytes (within the endpoint's maxSize: the caller checked); undefined while deferred. */
  size: number | undefined;
  /**
   * The creation brings the first bytes itself (creation-with-upload, a form's file part).
   * `length`: their number when known up front (Content-Length). Only a deferred length's quota
   * needs to know (see `reserveQuota`).
   */
  body?: { length: number | undefined } | undefined;
  /**
   * Concatenation (src/uploads/concat.ts). A partial upload is internal: the endpoint's creation
   * policy (required metadata, declared types), pre-create and post-create hooks and the early
   * final-name check do not apply to it (they apply to the final upload); limits, the signed
   * token's maxSize and quotas do. A final upload records the partial uploads it is made of.
   */
  concat?: SidecarTusport['concat'] | undefined;
  /**
   * The bytes go straight to the store, not through tusport (direct-to-S3: by the client's own
   * multipart upload, or by one presigned POST). Recorded in the sidecar; everything else about the
   * creation is the same. The store entry's `multipartId` is the client's to upload to.
   */
  direct?: SidecarTusport['direct'] | undefined;
}

/** Handed to the caller's `fill` while the new upload's lock is held. */
export interface Creation {
  stored: StoredUpload;
  /** The new upload's lock, held from before its store entry existed until `fill` has returned. */
  lock: HeldLock;
  /**
   * A deferred length whose body has no known length, under a `maxBytesInFlight` quota: the most
   * bytes the body may bring, and the error for one that brings more (the body is cut there).
   */
  bodyQuota: { limit: number; exceeded: () => Error } | undefined;
}

export interface Created<T> {
  stored: StoredUpload;
  /** Response headers the pre-create hooks asked for (the protocol decides how to send them). */
  headers: Record<string, string>;
  result: T;
}

/**
 * Create an upload: the one creation every protocol shares (tus POST, multipart forms,
 * direct-to-S3 claims, the IETF draft). Nothing here knows a header's spelling: the caller
 * parses its wire format into `upload`, and turns the outcome (or the coded error thrown) into
 * its answer. In order:
 *
 * 1. the endpoint's creation policy on what the client sent (required metadata, value sizes,
 *    declared types) and the signed upload token's narrower scope (maxSize, types);
 * 2. pre-create hooks, which may refuse, replace the metadata, choose the id (409 if taken) or add
 *    response headers; what they change applies as is;
 * 3. with `finalize.overwrite: false` and a final path known now, a clash is refused early (409);
 * 4. the owner's quota counts the upload (429/413 otherwise);
 * 5. the upload's lock is taken and its store entry made (sidecar with endpoint, params, owner);
 * 6. post-create notifications are queued;
 * 7. `fill` runs, still under the lock: the caller writes the creation's body, if any, and runs
 *    completion (`runtime.complete(context, stored, { creating: true })`) when the last byte is in.
 *
 * Steps 1-4 leave nothing behind when they refuse. After step 5 the rule is: **a creation that
 * fails leaves nothing behind**. Its client learns the upload's URL only from a success, so nobody
 * could ever resume it; kept, it would hold a quota slot (counted again when quotas are rebuilt
 * from the store) until it expired. So if step 6 or `fill` throws (a body longer than the upload or
 * the chunk limit, a store failure while writing, a pre-finish hook or `accept` saying no, a failed
 * completion step), the upload is removed and its quota slot given back before the error is
 * rethrown, unless its completion already ran to its end (the hooks were told it is done). A
 * caller that learns of a failure only after `createUpload` returned (its client disconnected
 * before the answer could reach it) calls `discardRefusedCreation` itself.
 *
 * The caller has checked the request's own syntax and the endpoint's maxSize and maxChunkSize
 * against what the request declares, and authenticated it (`context.principal`, `context.owner`).
 */
export async function createUpload<T>(
  runtime: EndpointRuntime,
  context: UploadContext,
  upload: NewUpload,
  fill: (creation: Creation) => Promise<T>,
): Promise<Created<T>> {
  const internal = upload.concat === 'partial';
  let metadata = upload.metadata;
  let id = internal ? `${newUploadId()}${PARTIAL_ID_SUFFIX}` : newUploadId();
  const headers: Record<string, string> = {};
  checkSignedSize(context.principal?.scope, upload.size);
  if (!internal) {
    checkCreationPolicy(runtime.config.policy, runtime.accept, metadata);
    checkTokenAccept(context, metadata);
    if (runtime.hooks.wants('pre-create')) ({ id, metadata } = await runPreCreate(runtime, context, { id, size: upload.size, metadata, concat: upload.concat }, headers));
    await refuseKnownClash(runtime, context, metadata);
  }
  const quota = await reserveQuota(runtime, context, id, upload);
  let lock: HeldLock;
  let stored: StoredUpload;
  try {
    lock = await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, new AbortController().signal);
  } catch (error) {
    await runtime.quota.release(context.owner, id);
    throw error;
  }
  try {
    stored = await runtime.store.create(context, { id, size: upload.size, metadata, concat: upload.concat, direct: upload.direct });
  } catch (error) {
    // Never an upload this request did not make (a hook-chosen id that turned out to be taken).
    await runtime.quota.release(context.owner, id);
    await lock.release();
    throw error;
  }
  try {
    await runtime.hooks.notify('post-create', context, stored);
    const result = await fill({ stored, lock, bodyQuota: quota.bodyQuota });
    // A deferred length created with a body: count the bytes it really has from now on.
    if (quota.countedBody) await runtime.quota.settle(stored.sidecar, stored.offset);
    return { stored, headers, result };
  } catch (error) {
    await removeRefused(runtime, context, id, 'refused');
    throw error;
  } finally {
    await lock.release();
  }
}

/**
 * The rule of `createUpload` for a failure noticed after it returned (the client disconnected
 * during creation-with-upload): remove the upload unless its completion ran to its end.
 */
export async function discardRefusedCreation(runtime: EndpointRuntime, context: UploadContext, id: string, why: string): Promise<void> {
  let lock;
  try {
    lock = await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, new AbortController().signal);
  } catch (error) {
    context.log.error({ uploadId: id, err: error }, 'could not remove the upload of a refused creation; the sweep removes it once it expires');
    return;
  }
  try {
    await removeRefused(runtime, context, id, why);
  } finally {
    await lock.release();
  }
}

/** Remove a refused creation's upload; the caller holds its lock. Never throws: the sweep is the fallback. */
async function removeRefused(runtime: EndpointRuntime, context: UploadContext, id: string, why: string): Promise<void> {
  await runtime.quota.release(context.owner, id);
  try {
    const stored = await runtime.store.find(id, context);
    if (!stored || completionStep(stored.sidecar) === 'notified') return;
    await runtime.store.removeStored(context, stored);
    context.log.info({ uploadId: id, why }, 'creation did not succeed; the upload was removed');
  } catch (error) {
    context.log.error({ uploadId: id, err: error }, 'could not remove the upload of a refused creation; the sweep removes it once it expires');
  }
}

/**
 * Count the new upload against its owner's quota: its declared length or, for a deferred length,
 * the bytes its creation body brings (all of its length, or without one whatever room is left:
 * the body is cut there). `countedBody`: a deferred body was counted (settled once stored).
 */
async function reserveQuota(
  runtime: EndpointRuntime,
  context: UploadContext,
  id: string,
  upload: NewUpload,
): Promise<{ countedBody: boolean; bodyQuota: Creation['bodyQuota'] }> {
  const { quota, config } = runtime;
  if (upload.size !== undefined || !upload.body || !quota.countsBytes) {
    await quota.reserve(context.owner, id, upload.size ?? 0);
    return { countedBody: false, bodyQuota: undefined };
  }
  const length = upload.body.length;
  const most = Math.min(config.maxChunkSize ?? Number.MAX_SAFE_INTEGER, config.maxSize ?? Number.MAX_SAFE_INTEGER);
  const granted = await quota.reserve(context.owner, id, length ?? most, length !== undefined);
  return { countedBody: true, bodyQuota: length === undefined ? { limit: granted, exceeded: () => quota.exceeded() } : undefined };
}

/**
 * Ask the pre-create hooks. What they change applies as is (the policy was checked on what the
 * client sent): their metadata replaces the client's, their id replaces the random one if no
 * upload has it yet (409 otherwise; the store entry checks again atomically).
 */
async function runPreCreate(
  runtime: EndpointRuntime,
  context: UploadContext,
  upload: { id: string; size: number | undefined; metadata: Record<string, string | null>; concat: NewUpload['concat'] },
  headers: Record<string, string>,
): Promise<{ id: string; metadata: Record<string, string | null> }> {
  const outcome = await runtime.hooks.preCreate(context, upload);
  let id = upload.id;
  if (outcome.id !== undefined && outcome.id !== id) {
    if (await runtime.store.backend.get(context.place, outcome.id)) throw new Errors.UPLOAD_ID_TAKEN();
    id = outcome.id;
  }
  Object.assign(headers, outcome.headers);
  return { id, metadata: outcome.metadata ?? upload.metadata };
}

/**
 * With `finalize.overwrite: false` and a final path that does not depend on the id or the date,
 * the name is known now: refuse a clash before the client sends a byte. (Finish checks again,
 * atomically: this is only the early, friendly answer.)
 */
async function refuseKnownClash(runtime: EndpointRuntime, context: UploadContext, metadata: Record<string, string | null>): Promise<void> {
  const finalize = runtime.config.finalize;
  if (!finalize || finalize.overwrite !== false) return;
  const placeholders = placeholdersOf(finalize.path);
  if (['id', 'yyyy', 'mm', 'dd'].some((name) => placeholders.includes(name))) return;
  const relativePath = renderFinalPath(finalize.path, { params: context.params, id: '', filename: metadata.filename, now: new Date() });
  if (await runtime.store.backend.finalPathTaken(context.place, relativePath)) throw new FinalizeErrors.FINAL_PATH_TAKEN(relativePath);
}

/** A signed upload token may narrow the endpoint's types further. */
function checkTokenAccept(context: UploadContext, metadata: Record<string, string | null>): void {
  const scope = context.principal?.scope;
  if (scope?.accept && !declaredAccepted(parseAccept(scope.accept), metadata)) {
    throw new PolicyErrors.TYPE_NOT_ACCEPTED(metadata.filetype || metadata.filename || 'no filetype or filename declared', `${scope.accept.join(', ')} (this upload token)`);
  }
}
