import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import { closeAfterAnswer } from '../../limits/linger.js';
import { creationMetadata } from '../../policy/creation.js';
import type { StoredUpload } from '../../stores/backend.js';
import { isComplete } from '../../stores/endpoint-store.js';
import { type Creation, createUpload, discardRefusedCreation } from '../../uploads/create.js';
import { isLengthBody, settleLengthAtOffset } from '../../uploads/length-from-body.js';
import { announceLocation } from '../../uploads/located.js';
import { ChecksumVerifier, checksumRefusal } from './checksum.js';
import { handleCreateFinal, parseUploadConcat } from './concat.js';
import { integerHeader } from './preconditions.js';
import { storageError } from '../../uploads/storage-errors.js';

const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

/**
 * POST (creation, creation-with-upload, creation-defer-length, and concatenation's partial
 * uploads; final ones go to `handleCreateFinal`): the tus headers translated into
 * `createUpload` (src/uploads/create.ts: policy, hooks, quota, the store entry, and the rule that
 * a refused creation leaves nothing behind), the body written through the store's write path as
 * PATCH writes it, and the answer: 201 with Location (and Upload-Offset when a body came,
 * Upload-Expires while unfinished). The preconditions checked the headers' syntax, that exactly
 * one of Upload-Length and Upload-Defer-Length is there, and maxSize and maxChunkSize against
 * what they declare.
 */
export const handleCreate: ProtocolHandler = async (runtime, context, request, reply) => {
  const concat = parseUploadConcat(request);
  if (concat && 'final' in concat) return handleCreateFinal(concat.final)(runtime, context, request, reply);
  const size = integerHeader(request, 'upload-length');
  const hasBody = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === OFFSET_OCTET_STREAM;
  const contentLength = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
  // A creation body's checksum is read before anything is created: a malformed one leaves nothing.
  const verifier = hasBody ? ChecksumVerifier.fromRequest(request.raw) : undefined;
  let announced = false;
  const created = await createUpload(
    runtime,
    context,
    { metadata: creationMetadata(request), size, body: hasBody ? { length: contentLength } : undefined, concat: concat && 'partial' },
    async (creation) => {
      // The upload exists and no byte of its body has been read: a door may tell its client where it is.
      announced = announceLocation(request, uploadUrl(context, creation.stored.sidecar.id));
      const written = hasBody ? await writeCreationBody(runtime, context, creation, request, reply, verifier) : undefined;
      // A body that is the whole upload (an IETF complete creation without a length): now its length is known.
      if (written === 'complete' && creation.stored.sidecar.size === undefined && isLengthBody(request)) await settleLengthAtOffset(runtime, context, creation.stored);
      // Zero bytes declared, or all of them in the body: the upload is complete at its creation.
      return isComplete(creation.stored) ? runtime.complete(context, creation.stored, { creating: true }) : {};
    },
  );
  const { stored } = created;
  // A body cut short by a closed connection: the client was gone before its answer could reach it,
  // and unless it was told the upload's URL early (IETF 104) it can never resume it.
  if (!request.raw.complete && request.raw.destroyed && !announced) {
    await discardRefusedCreation(runtime, context, stored.sidecar.id, 'client disconnected during creation-with-upload');
    return reply;
  }
  for (const [name, value] of Object.entries({ ...created.headers, ...created.result })) reply.header(name, value);
  if (hasBody) reply.header('Upload-Offset', String(stored.offset));
  const expires = runtime.store.expiresAt(stored);
  if (expires) reply.header('Upload-Expires', expires.toUTCString());
  reply.header('Location', uploadUrl(context, stored.sidecar.id));
  return reply.code(201).send();
};

/** The URL a new upload is reached at (what Location says). */
export function uploadUrl(context: UploadContext, id: string): string {
  return `${context.origin}${context.basePath}/${id}`;
}

/**
 * Write a creation's body (creation-with-upload) at offset 0. Every byte must fit, or the whole
 * creation is refused (and the upload removed by `createUpload`): its declared length or, for a
 * deferred one, maxSize (the endpoint's or its token's), the chunk limit, and a deferred length's
 * quota; and with an Upload-Checksum, it must match (460 otherwise). Unlike PATCH, a body cut at
 * the chunk limit keeps nothing: the client never learnt the
 * upload's URL. A write interrupted by the client going away keeps what arrived; the handler
 * then discards the upload all the same.
 */
async function writeCreationBody(
  runtime: EndpointRuntime,
  context: UploadContext,
  creation: Creation,
  request: FastifyRequest,
  reply: FastifyReply,
  verifier: ChecksumVerifier | undefined,
): Promise<'complete' | 'interrupted'> {
  const { config, store } = runtime;
  const stored: StoredUpload = creation.stored;
  const id = stored.sidecar.id;
  const size = stored.sidecar.size;
  const maxSize = Math.min(config.maxSize ?? Number.MAX_SAFE_INTEGER, context.principal?.scope?.maxSize ?? Number.MAX_SAFE_INTEGER);
  const room = size ?? maxSize;
  const pastEnd = (sent: number | string) => (size !== undefined ? new Errors.PAST_UPLOAD_LENGTH(room, sent) : new Errors.PAST_MAX_SIZE(maxSize));
  const contentLength = request.headers['content-length'];
  if (contentLength !== undefined && Number(contentLength) > room) {
    closeAfterAnswer(reply);
    throw pastEnd(contentLength);
  }
  const chunkLimit = config.maxChunkSize ?? Number.MAX_SAFE_INTEGER;
  const quotaLimit = creation.bodyQuota?.limit ?? Number.MAX_SAFE_INTEGER;
  const limit = Math.min(room, chunkLimit, quotaLimit);
  let result;
  try {
    result = await store.writeChunk(context, id, request.raw, 0, { limit, verify: verifier, fence: creation.lock }, creation.lock.handOver);
  } catch (error) {
    throw storageError(error, context.log, id);
  }
  stored.offset = result.offset;
  // A body its checksum refuses: 460, and the creation is refused with it (nothing is left).
  if (result.kind === 'rejected') throw checksumRefusal(verifier!, reply);
  if (result.kind !== 'limit') return result.kind;
  closeAfterAnswer(reply);
  if (limit === room) throw pastEnd('more');
  if (limit === chunkLimit) throw new Errors.CHUNK_TOO_LARGE(chunkLimit);
  throw creation.bodyQuota?.exceeded() ?? runtime.quota.exceeded();
}
