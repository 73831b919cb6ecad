import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import type { Sidecar } from '../../stores/sidecar.js';
import { createUpload } from '../../uploads/create.js';

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
 * Start a direct upload as tusport starts any upload, through the one creation every protocol
 * shares (src/uploads/create.ts: the endpoint's policy and the upload token's narrower one,
 * pre-create hooks, the early final-name check, the owner's quota, the store entry, post-create).
 * The S3 store makes the multipart upload and its sidecar (`direct` recorded in it) and hands back
 * the multipart id the client uploads its parts to (or, for a presigned POST, only a marker, so
 * listings, quotas and the sweep see the upload like any unfinished one;
 * it stays open until the form expired: staging.ts).
 */
export async function createDirectUpload(runtime: EndpointRuntime, context: UploadContext, request: DirectRequest, mode: 'multipart' | 'post'): Promise<DirectUpload> {
  const maxSize = runtime.config.maxSize;
  if (request.size !== undefined && maxSize !== undefined && request.size > maxSize) throw new Errors.UPLOAD_TOO_LARGE(request.size, maxSize);
  const metadata = { ...request.metadata, filename: request.filename, filetype: request.type };
  const { stored } = await createUpload(runtime, context, { metadata, size: request.size, direct: mode }, async () => undefined);
  // Only an S3 store has one, and `direct` is only allowed on S3 stores (the config schema says so).
  if (!stored.multipartId) throw new Error(`the store made no multipart upload for direct upload ${stored.sidecar.id}`);
  context.log.info({ uploadId: stored.sidecar.id, key: stored.location, mode }, 'direct upload created');
  return { id: stored.sidecar.id, key: stored.location, multipartId: stored.multipartId, sidecar: stored.sidecar };
}
