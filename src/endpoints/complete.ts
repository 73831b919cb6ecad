import type { EndpointConfig } from '../config/schema.js';
import type { FinishedUpload } from '../hooks/types.js';
import type { StoredUpload } from '../stores/backend.js';
import type { EndpointStore } from '../stores/endpoint-store.js';
import type { UploadContext } from './context.js';

/**
 * What happens once an upload's last byte is stored: the sidecar records completion, then the
 * endpoint's `onUploadDone` runs. A failing hook is logged and swallowed: the bytes are safe and
 * the client gets its success either way (durable, retried hooks are the hook system's job).
 */
export function completionFor(config: EndpointConfig, store: EndpointStore) {
  return async (context: UploadContext, stored: StoredUpload): Promise<void> => {
    const id = stored.sidecar.id;
    // Completion is recorded once; a retried final PATCH (offset already at the end) is a no-op.
    if (stored.sidecar.tusport.completed_at) return;
    try {
      await store.markCompleted(context, stored);
    } catch (error) {
      context.log.error({ uploadId: id, err: error }, 'could not record completion in the sidecar');
    }
    context.log.info({ uploadId: id, size: stored.offset }, 'upload finished');
    if (!config.onUploadDone) return;
    const upload: FinishedUpload = {
      id,
      size: stored.offset,
      metadata: { ...(stored.sidecar.metadata ?? {}) },
      endpoint: context.endpoint,
      params: { ...context.params },
      path: stored.location,
      url: `${context.basePath}/${id}`,
    };
    try {
      await config.onUploadDone(upload);
    } catch (error) {
      context.log.error({ uploadId: id, err: error }, 'onUploadDone failed; the upload stays stored');
    }
  };
}
