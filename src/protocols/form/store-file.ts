import { Upload } from '@tus/server';
import type { UploadContext } from '../../endpoints/context.js';
import { runWithUploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { Errors, isCodedError } from '../../errors.js';
import { declaredAccepted, parseAccept } from '../../policy/accept.js';
import { checkCreationPolicy, PolicyErrors } from '../../policy/creation.js';
import { acquireUploadLock, type HeldLock } from '../../protocol/lock.js';
import { storageError } from '../../protocol/storage-errors.js';
import type { StoredUpload } from '../../stores/backend.js';
import { newUploadId } from '../../uploads/ids.js';
import { FormErrors } from './errors.js';
import type { FilePart } from './parts.js';
import { captureHead, verifyHead } from './sniff.js';

/** A file part stored as an upload of its own, still held (locked) by the form request. */
export interface StoredFile {
  stored: StoredUpload;
  lock: HeldLock;
  /** The upload's own context: its id and (possibly hook-replaced) metadata. */
  context: UploadContext;
}

/**
 * Store one file part as a new upload of the endpoint: the same policy as a tus creation (declared
 * type, required metadata, value sizes, a signed token's narrower scope), pre-create hooks, the
 * owner's quota, then the bytes through the store's write path (the PATCH path: fsynced on disk,
 * S3 multipart parts) with the endpoint's maxSize as the limit. The upload is handed to `keep` the
 * moment it exists, so the caller can undo it whatever happens next. Its length is recorded once
 * its bytes are in; completion is the caller's, once the whole form has been read.
 *
 * Resolves undefined for an empty file part without a filename: what a browser sends for a file
 * input left empty.
 */
export async function storeFilePart(runtime: EndpointRuntime, formContext: UploadContext, part: FilePart, keep: (file: StoredFile) => void): Promise<StoredFile | undefined> {
  if (part.filename === undefined) return skipNameless(part);
  const { config, store, quota } = runtime;
  let metadata: Record<string, string | null> = { ...part.fields, filename: part.filename, filetype: part.mimeType };
  checkCreationPolicy(config.policy, runtime.accept, metadata);
  const scope = formContext.principal?.scope;
  if (scope?.accept && !declaredAccepted(parseAccept(scope.accept), metadata)) {
    throw new PolicyErrors.TYPE_NOT_ACCEPTED(`type "${part.mimeType}", name "${part.filename}"`, `${scope.accept.join(', ')} (this upload token)`);
  }
  const context: UploadContext = { ...formContext, newUploadId: newUploadId(), newMetadata: undefined, createdUpload: false };
  if (runtime.hooks.wants('pre-create')) {
    const outcome = await runtime.hooks.preCreate(context, { id: context.newUploadId ?? '', size: undefined, metadata });
    if (outcome.id !== undefined && outcome.id !== context.newUploadId) {
      if (await store.backend.get(context.place, outcome.id)) throw new Errors.UPLOAD_ID_TAKEN();
      context.newUploadId = outcome.id;
    }
    if (outcome.metadata) metadata = outcome.metadata;
  }
  const id = context.newUploadId ?? '';
  const maxSize = Math.min(config.maxSize ?? Number.MAX_SAFE_INTEGER, scope?.maxSize ?? Number.MAX_SAFE_INTEGER);
  // Its size is known only once its bytes are in: it may bring what its owner's quota has room for.
  const room = quota.countsBytes ? await quota.reserve(context.owner, id, maxSize, false) : await quota.reserve(context.owner, id, 0);
  const lock = await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, new AbortController().signal);
  let stored: StoredUpload | undefined;
  try {
    const upload = new Upload({ id, offset: 0, metadata: metadata as Record<string, string> });
    await runWithUploadContext(context, () => store.create(upload));
    stored = await store.require(id, context);
  } catch (error) {
    quota.release(context.owner, id);
    await lock.release();
    throw error;
  } finally {
    if (stored) keep({ stored, lock, context });
  }
  const head = runtime.accept ? captureHead(part.stream) : undefined;
  const limit = quota.countsBytes ? Math.min(maxSize, room) : maxSize;
  let result;
  try {
    result = await store.writeChunk(context, id, part.stream, 0, limit);
  } catch (error) {
    throw storageError(error, context.log, id);
  }
  // Cut short: the client went away, a limit stopped the form, or the body ended mid-file.
  if (result.kind === 'interrupted') throw isCodedError(result.reason) ? result.reason : new FormErrors.MALFORMED(messageOf(result.reason));
  if (result.kind === 'limit') throw limit < maxSize ? quota.exceeded() : new FormErrors.FILE_TOO_LARGE(part.filename.slice(0, 128), maxSize);
  stored.offset = result.offset;
  quota.settle(stored.sidecar, result.offset);
  await store.setLength(context, stored, result.offset).catch((error: unknown) => {
    throw storageError(error, context.log, id);
  });
  if (runtime.accept && head) {
    const verdict = await verifyHead(runtime.accept, head());
    if (!verdict.ok) throw new PolicyErrors.CONTENT_NOT_ACCEPTED(verdict.sniffed, runtime.accept.list.join(', '));
  }
  return { stored, lock, context };
}

/** A file part without a filename: empty, it is a file input left empty (ignored); with bytes, refused. */
async function skipNameless(part: FilePart): Promise<undefined> {
  for await (const chunk of part.stream) {
    if ((chunk as Buffer).length > 0) throw new FormErrors.MISSING_FILENAME(part.field.slice(0, 64));
  }
  return undefined;
}

function messageOf(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason);
}
