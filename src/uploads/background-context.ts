import type { FastifyBaseLogger } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { renderUrlPath } from '../endpoints/template.js';
import type { Sidecar } from '../stores/sidecar.js';

/**
 * The owner's view of an upload with no request behind it (the sweep, the app's own claim call):
 * the context a handler would have built from a request by the upload's owner.
 */
export function backgroundContext(runtime: EndpointRuntime, sidecar: Pick<Sidecar, 'id' | 'tusport'>, place: string, log: FastifyBaseLogger): UploadContext {
  const { params, owner } = sidecar.tusport;
  return {
    endpoint: runtime.template.source,
    params,
    place,
    basePath: renderUrlPath(runtime.template, params),
    origin: '',
    uploadId: sidecar.id,
    principal: null,
    owner,
    log,
  };
}
