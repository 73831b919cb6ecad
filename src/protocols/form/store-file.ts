import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { isCodedError } from '../../errors.js';
import { PolicyErrors } from '../../policy/creation.js';
import { storageError } from '../../uploads/storage-errors.js';
import type { StoredUpload } from '../../stores/backend.js';
import { createUpload } from '../../uploads/create.js';
import { FormErrors } from './errors.js';
import type { FilePart } from './parts.js';
import { captureHead, verifyHead } from './sniff.js';

/** A file part stored as an upload of its own; completed by the caller once the whole form is in. */
export interface StoredFile {
  stored: StoredUpload;
  /** Response headers pre-create hooks asked for. */
  headers: Record<string, string>;
}

/**
 * Store one file part as a new upload of the endpoint, through the creation every protocol shares
 * (src/uploads/create.ts: policy on the declared name and type, the signed token's scope,
 * pre-create hooks, quota, post-create): a deferred length, whose body is the part's bytes, written
 * through the store's write path (the PATCH path: fsynced on disk, S3 multipart parts) with the
 * endpoint's maxSize (or the token's, or what the owner's quota has room for) as the limit. Its
 * length is recorded once its bytes are in, and its first bytes are sniffed against `accept`
 * there and then; completion is the caller's, once the whole form has been read. Anything that
 * fails here removes the upload again (createUpload's rule).
 *
 * Resolves undefined for an empty file part without a filename: what a browser sends for a file
 * input left empty.
 */
export async function storeFilePart(runtime: EndpointRuntime, context: UploadContext, part: FilePart): Promise<StoredFile | undefined> {
  if (part.filename === undefined) return skipNameless(part);
  const filename = part.filename;
  const { config, store } = runtime;
  const metadata = { ...part.fields, filename, filetype: part.mimeType };
  const maxSize = Math.min(config.maxSize ?? Number.MAX_SAFE_INTEGER, context.principal?.scope?.maxSize ?? Number.MAX_SAFE_INTEGER);
  const created = await createUpload(runtime, context, { metadata, size: undefined, body: { length: undefined } }, async ({ stored, lock, bodyQuota }) => {
    const id = stored.sidecar.id;
    const head = runtime.accept ? captureHead(part.stream) : undefined;
    const limit = Math.min(maxSize, bodyQuota?.limit ?? Number.MAX_SAFE_INTEGER);
    let result;
    try {
      result = await store.writeChunk(context, id, part.stream, 0, { limit, fence: lock });
    } catch (error) {
      throw storageError(error, context.log, id);
    }
    // Cut short: the client went away, a limit stopped the form, or the body ended mid-file.
    if (result.kind === 'interrupted') throw isCodedError(result.reason) ? result.reason : new FormErrors.MALFORMED(messageOf(result.reason));
    if (result.kind === 'limit') throw limit < maxSize && bodyQuota ? bodyQuota.exceeded() : new FormErrors.FILE_TOO_LARGE(filename.slice(0, 128), maxSize);
    stored.offset = result.offset;
    try {
      await store.setLength(context, stored, result.offset);
    } catch (error) {
      throw storageError(error, context.log, id);
    }
    if (runtime.accept && head) {
      const verdict = await verifyHead(runtime.accept, head());
      if (!verdict.ok) throw new PolicyErrors.CONTENT_NOT_ACCEPTED(verdict.sniffed, runtime.accept.list.join(', '));
    }
  });
  return { stored: created.stored, headers: created.headers };
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
