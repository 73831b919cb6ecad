import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../endpoints/runtime.js';
import { placeholdersOf } from '../endpoints/template.js';
import { FinalizeErrors } from '../stores/finalize-errors.js';
import { renderFinalPath } from '../stores/finalize.js';
import { newUploadId } from '../endpoints/tus-server.js';
import { checkSignedSize } from '../auth/signed-token.js';
import { declaredAccepted, parseAccept } from '../policy/accept.js';
import { checkCreationPolicy, creationMetadata, PolicyErrors } from '../policy/creation.js';
import { integerHeader } from './preconditions.js';
import { Errors } from '../errors.js';
import { completionStep } from '../uploads/completion.js';
import { acquireUploadLock } from './lock.js';

/**
 * POST (creation): the endpoint's policy decides first, then pre-create hooks (which may reject,
 * replace the metadata or choose the id), then the principal's quota, with tusport's own errors;
 * then @tus/server creates the upload (metadata, naming through the context's id,
 * creation-with-upload). A quota slot taken here is given back, and the upload removed, if
 * creation does not succeed.
 */
export function handleCreate(create: ProtocolHandler): ProtocolHandler {
  return async (runtime: EndpointRuntime, context, request, reply) => {
    let metadata = creationMetadata(request);
    checkCreationPolicy(runtime.config.policy, runtime.accept, metadata);
    checkTokenScope(context, metadata, integerHeader(request, 'upload-length'));
    context.newUploadId = newUploadId();
    if (runtime.hooks.wants('pre-create')) metadata = await runPreCreate(runtime, context, metadata, integerHeader(request, 'upload-length'), reply);
    await refuseKnownClash(runtime, context, metadata);
    const id = context.newUploadId;
    const body = await reserveQuota(runtime, context, request);
    // Not 201: no Location goes out. Removed before the answer, so a client that retries at once
    // never counts against its quota twice.
    context.beforeAnswer = async (status) => {
      if (status !== 201) await discardRefusedCreation(runtime, context, id, 'refused');
    };
    let result;
    try {
      result = await create(runtime, context, request, reply);
    } catch (error) {
      await discardRefusedCreation(runtime, context, id, 'refused');
      throw error;
    }
    // A body cut short by a closed connection: the client was gone before its answer could reach it.
    if (!request.raw.complete && request.raw.destroyed) await discardRefusedCreation(runtime, context, id, 'client disconnected during creation-with-upload');
    else if (reply.statusCode === 201 && body) await settleCreationBody(runtime, context);
    return result;
  };
}

/**
 * A creation that did not end in a 201 the client received leaves nothing behind. Its client
 * never learnt the upload's URL (tus 1.0 gives it only in the 201), so nobody could resume it:
 * kept, it would hold a quota slot (counted again when quotas are rebuilt from the store) until
 * it expired, or for good without `expire`. This covers every refusal after the store entry was
 * made: a body longer than Upload-Length or the chunk limit, a store failure while writing, a
 * pre-finish hook or `accept` saying no (completion has removed those already), a failed
 * completion step, and a client that disconnected during creation-with-upload. An upload whose
 * completion already ran to its end (the hooks were told it is done) is kept.
 */
async function discardRefusedCreation(runtime: EndpointRuntime, context: UploadContext, id: string, why: string): Promise<void> {
  await runtime.quota.release(context.owner, id);
  // Never an upload this request did not make (a hook-chosen id that turned out to be taken).
  if (!context.createdUpload) return;
  try {
    const lock = await acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, new AbortController().signal);
    try {
      const stored = await runtime.store.find(id, context);
      if (!stored || completionStep(stored.sidecar) === 'notified') return;
      await runtime.store.removeStored(context, stored);
      context.log.info({ uploadId: id, why }, 'creation did not succeed; the upload was removed');
    } finally {
      await lock.release();
    }
  } catch (error) {
    context.log.error({ uploadId: id, err: error }, 'could not remove the upload of a refused creation; the sweep removes it once it expires');
  }
}

/**
 * Count the new upload against its owner's quota: its Upload-Length or, for a deferred length,
 * the bytes its creation body brings (all of its Content-Length, or without one whatever room is
 * left: the body is cut there, see EndpointStore.write). Returns whether a deferred body was
 * counted (its real size is settled once it is stored).
 */
async function reserveQuota(runtime: EndpointRuntime, context: UploadContext, request: FastifyRequest): Promise<boolean> {
  const id = context.newUploadId ?? '';
  const length = integerHeader(request, 'upload-length');
  const hasBody = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase() === 'application/offset+octet-stream';
  if (length !== undefined || !hasBody || !runtime.quota.countsBytes) {
    await runtime.quota.reserve(context.owner, id, length ?? 0);
    return false;
  }
  const contentLength = request.headers['content-length'] === undefined ? undefined : Number(request.headers['content-length']);
  const most = Math.min(runtime.config.maxChunkSize ?? Number.MAX_SAFE_INTEGER, runtime.config.maxSize ?? Number.MAX_SAFE_INTEGER);
  const granted = await runtime.quota.reserve(context.owner, id, contentLength ?? most, contentLength !== undefined);
  if (contentLength === undefined) context.creationBodyQuota = { limit: granted, exceeded: () => runtime.quota.exceeded() };
  return true;
}

/** A deferred-length upload created with a body: count the bytes it really has from now on. */
async function settleCreationBody(runtime: EndpointRuntime, context: UploadContext): Promise<void> {
  const stored = await runtime.store.find(context.newUploadId ?? '', context);
  if (stored) await runtime.quota.settle(stored.sidecar, stored.offset);
}

/**
 * Ask the pre-create hooks. What they change applies as is (the policy was checked on what the
 * client sent): their metadata replaces the client's, their id replaces the random one if no
 * upload has it yet (409 otherwise; creation checks again atomically).
 */
async function runPreCreate(
  runtime: EndpointRuntime,
  context: UploadContext,
  metadata: Record<string, string | null>,
  size: number | undefined,
  reply: FastifyReply,
): Promise<Record<string, string | null>> {
  const outcome = await runtime.hooks.preCreate(context, { id: context.newUploadId ?? '', size, metadata });
  if (outcome.id !== undefined && outcome.id !== context.newUploadId) {
    if (await runtime.store.options.backend.get(context.place, outcome.id)) throw new Errors.UPLOAD_ID_TAKEN();
    context.newUploadId = outcome.id;
  }
  for (const [name, value] of Object.entries(outcome.headers)) reply.header(name, value);
  if (!outcome.metadata) return metadata;
  context.newMetadata = outcome.metadata;
  return outcome.metadata;
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

/** A signed upload token may narrow the endpoint further: a smaller maxSize, fewer types. */
function checkTokenScope(context: UploadContext, metadata: Record<string, string | null>, uploadLength: number | undefined): void {
  const scope = context.principal?.scope;
  if (!scope) return;
  checkSignedSize(scope, uploadLength);
  if (scope.accept && !declaredAccepted(parseAccept(scope.accept), metadata)) {
    throw new PolicyErrors.TYPE_NOT_ACCEPTED(metadata.filetype ?? metadata.filename ?? 'no filetype or filename declared', `${scope.accept.join(', ')} (this upload token)`);
  }
}
