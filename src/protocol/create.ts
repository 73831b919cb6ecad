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

/**
 * POST (creation): the endpoint's policy and the principal's quota decide first, with tusport's
 * own errors; then @tus/server creates the upload (metadata, naming through the context's id,
 * creation-with-upload). A quota slot taken here is given back if creation does not succeed.
 */
export function handleCreate(create: ProtocolHandler): ProtocolHandler {
  return async (runtime: EndpointRuntime, context, request, reply) => {
    const metadata = creationMetadata(request);
    checkCreationPolicy(runtime.config.policy, runtime.accept, metadata);
    checkTokenScope(context, metadata, integerHeader(request, 'upload-length'));
    await refuseKnownClash(runtime, context, metadata);
    context.newUploadId = newUploadId();
    await runtime.quota.reserve(context.owner, context.newUploadId, integerHeader(request, 'upload-length') ?? 0);
    try {
      const result = await create(runtime, context, request, reply);
      if (reply.statusCode !== 201) runtime.quota.release(context.owner, context.newUploadId);
      return result;
    } catch (error) {
      runtime.quota.release(context.owner, context.newUploadId);
      throw error;
    }
  };
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
