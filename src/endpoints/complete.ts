import type { EndpointConfig } from '../config/schema.js';
import { isCodedError } from '../errors.js';
import type { FinishedUpload } from '../hooks/types.js';
import { type AcceptRules, parseAccept, verifyContent } from '../policy/accept.js';
import { PolicyErrors } from '../policy/creation.js';
import type { QuotaTracker } from '../policy/quota.js';
import type { StoredUpload } from '../stores/backend.js';
import type { EndpointStore } from '../stores/endpoint-store.js';
import { type FinalizeConfig, renderFinalPath } from '../stores/finalize.js';
import { storageError } from '../protocol/storage-errors.js';
import type { UploadContext } from './context.js';

export interface CompletionDeps {
  config: EndpointConfig;
  store: EndpointStore;
  accept: AcceptRules | undefined;
  quota: QuotaTracker;
}

/**
 * What happens once an upload's last byte is stored, while the caller still holds its lock:
 * 1. the bytes are checked against `accept` (a mismatch deletes the upload and answers 415:
 *    the upload is not done and no hook fires);
 * 2. the sidecar records completion (if it cannot, the request fails with 507/503 and the next
 *    request that finds the upload complete but unrecorded tries again);
 * 3. `onUploadDone` runs. A failing hook is logged and swallowed: the bytes are safe and the
 *    client gets its success either way (durable, retried hooks are the hook system's job).
 */
export function completionFor({ config, store, accept, quota }: CompletionDeps) {
  return async (context: UploadContext, stored: StoredUpload): Promise<void> => {
    const id = stored.sidecar.id;
    const owner = stored.sidecar.tusport.owner;
    // Completion is recorded once; a retried final PATCH (offset already at the end) is a no-op.
    if (stored.sidecar.tusport.completed_at) return;
    await store.backend.seal?.(context.place, stored);
    // The endpoint's rules, and a signed upload token's narrower ones recorded at creation.
    const tokenAccept = stored.sidecar.tusport.accept ? parseAccept(stored.sidecar.tusport.accept) : undefined;
    for (const rules of [accept, tokenAccept]) {
      if (!rules) continue;
      const verdict = await verifyContent(rules, () => store.openStored(stored));
      if (!verdict.ok) {
        await store.removeStored(context, stored);
        quota.release(owner, id);
        context.log.warn({ uploadId: id, sniffed: verdict.sniffed }, 'upload rejected: content type not accepted; deleted');
        throw new PolicyErrors.CONTENT_NOT_ACCEPTED(verdict.sniffed, rules.list.join(', '));
      }
    }
    try {
      await store.markCompleted(context, stored);
    } catch (error) {
      // Not done until it is recorded: nothing else runs now (no finalize, no hook), the bytes stay
      // stored, and the client's next HEAD or PATCH completes it once, when the store works again.
      context.log.error({ uploadId: id, err: error }, 'could not record completion in the sidecar');
      throw storageError(error, context.log, id);
    }
    quota.release(owner, id);
    const finalizeError = config.finalize ? await finalize(config.finalize, store, context, stored) : undefined;
    context.log.info({ uploadId: id, size: stored.offset, path: stored.location }, 'upload finished');
    await runDoneHook(config, context, stored);
    // The upload is complete and kept where it is; the client learns its final name was taken.
    if (finalizeError) throw finalizeError;
  };
}

/**
 * Move the finished file to its templated path. A name clash under `overwrite: false` leaves the
 * bytes at the upload's own location (complete, reachable at its URL) and is reported to the
 * client as 409; the file is never clobbered.
 */
async function finalize(settings: FinalizeConfig, store: EndpointStore, context: UploadContext, stored: StoredUpload): Promise<Error | undefined> {
  const id = stored.sidecar.id;
  const relativePath = renderFinalPath(settings.path, { params: context.params, id, filename: stored.sidecar.metadata?.filename, now: new Date() });
  try {
    stored.location = await store.backend.finalize(context.place, stored, relativePath, settings.overwrite);
    return undefined;
  } catch (error) {
    if (!isCodedError(error) || error.statusCode !== 409) throw error;
    context.log.warn({ uploadId: id, finalPath: relativePath }, 'final path taken; the upload stays at its upload location');
    return error;
  }
}

async function runDoneHook(config: EndpointConfig, context: UploadContext, stored: StoredUpload): Promise<void> {
  const id = stored.sidecar.id;
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
}
