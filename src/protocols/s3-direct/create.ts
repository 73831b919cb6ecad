import { checkSignedSize } from '../../auth/signed-token.js';
import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { newUploadId } from '../../uploads/create.js';
import { Errors } from '../../errors.js';
import { declaredAccepted, parseAccept } from '../../policy/accept.js';
import { checkCreationPolicy, PolicyErrors } from '../../policy/creation.js';
import { storageError } from '../../uploads/storage-errors.js';
import type { Sidecar } from '../../stores/sidecar.js';
import type { DirectS3 } from './s3.js';

/** What a client asks for when it starts a direct upload (Uppy sends the first three). */
export interface DirectRequest {
  filename: string;
  type: string;
  metadata: Record<string, string>;
  /** Optional (Uppy does not send it): lets maxSize refuse early and quotas count bytes. */
  size?: number | undefined;
}

export interface DirectUpload {
  id: string;
  /** The object key: `<store prefix for these params><id>`, chosen here, never by the client. */
  key: string;
  multipartId: string;
  sidecar: Sidecar;
}

/**
 * Start a direct upload as tusport starts any upload: the endpoint's policy and the upload
 * token's narrower one decide, pre-create hooks may refuse or change the metadata, the owner's
 * quota takes a slot, then the multipart upload and its sidecar are made and post-create fires.
 * (The same steps as src/uploads/create.ts's `createUpload`, which tus and forms use; not through it
 * yet because its store entry is the backend's, which does not hand back the multipart id, and a
 * direct upload's sidecar says `direct`.)
 */
export async function createDirectUpload(runtime: EndpointRuntime, context: UploadContext, s3: DirectS3, request: DirectRequest, mode: 'multipart' | 'post'): Promise<DirectUpload> {
  let metadata: Record<string, string | null> = { ...request.metadata, filename: request.filename, filetype: request.type };
  checkCreationPolicy(runtime.config.policy, runtime.accept, metadata);
  const scope = context.principal?.scope;
  if (scope) {
    checkSignedSize(scope, request.size);
    if (scope.accept && !declaredAccepted(parseAccept(scope.accept), metadata)) {
      throw new PolicyErrors.TYPE_NOT_ACCEPTED(request.type || request.filename || 'no type or name declared', `${scope.accept.join(', ')} (this upload token)`);
    }
  }
  const maxSize = runtime.config.maxSize;
  if (request.size !== undefined && maxSize !== undefined && request.size > maxSize) throw new Errors.UPLOAD_TOO_LARGE(request.size, maxSize);
  const id = newUploadId();
  if (runtime.hooks.wants('pre-create')) {
    // The id stays tusport's: the key is derived from it and must stay under the principal's prefix.
    const outcome = await runtime.hooks.preCreate(context, { id, size: request.size, metadata });
    if (outcome.metadata) metadata = outcome.metadata;
  }
  await runtime.quota.reserve(context.owner, id, request.size ?? 0);
  const sidecar: Sidecar = {
    id,
    offset: 0,
    metadata,
    creation_date: new Date().toISOString(),
    tusport: {
      version: 1,
      endpoint: runtime.template.source,
      params: context.params,
      owner: context.owner,
      ...(scope?.accept ? { accept: scope.accept } : {}),
      ...(scope?.maxSize !== undefined ? { maxSize: scope.maxSize } : {}),
      direct: mode,
    },
  };
  const key = context.place + id;
  let multipartId: string;
  try {
    multipartId = await s3.create(key, sidecar, request.type);
  } catch (error) {
    await runtime.quota.release(context.owner, id);
    throw storageError(error, context.log, id);
  }
  await runtime.hooks.notify('post-create', context, { sidecar, offset: 0, location: key });
  context.log.info({ uploadId: id, key, mode }, 'direct upload created');
  return { id, key, multipartId, sidecar };
}
