import type { EndpointConfig } from '../config/schema.js';
import { isCodedError } from '../errors.js';
import type { EndpointHooks } from '../hooks/dispatcher.js';
import { isHookRejection } from '../hooks/errors.js';
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
  hooks: EndpointHooks;
}

/**
 * What happens once an upload's last byte is stored, while the caller still holds its lock:
 * 1. the bytes are checked against `accept` (a mismatch deletes the upload and answers 415:
 *    the upload is not done and no hook fires);
 * 2. pre-finish hooks decide (a rejection deletes the upload; a failure undoes this request's
 *    bytes, see `preFinish`);
 * 3. the sidecar records completion (if it cannot, the request fails with 507/503 and the next
 *    request that finds the upload complete but unrecorded tries again), and finalize moves the file;
 * 4. `onUploadDone` runs (a failure is logged and swallowed), and post-finish notifications go to
 *    the durable outbox before the client is answered: from here on nothing fails the upload.
 */
export function completionFor({ config, store, accept, quota, hooks }: CompletionDeps) {
  return async (context: UploadContext, stored: StoredUpload, undoTo?: number): Promise<Record<string, string>> => {
    const id = stored.sidecar.id;
    const owner = stored.sidecar.tusport.owner;
    // Completion is recorded once; a retried final PATCH (offset already at the end) is a no-op.
    if (stored.sidecar.tusport.completed_at) return {};
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
    const headers = await preFinish({ store, quota, hooks }, context, stored, undoTo);
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
    await hooks.notify('post-finish', context, stored);
    // The upload is complete and kept where it is; the client learns its final name was taken.
    if (finalizeError) throw finalizeError;
    return headers;
  };
}

/**
 * Run pre-finish hooks. A rejection deletes the upload (like bytes `accept` refuses): the client
 * gets the hook's answer, the upload is gone (404 from then on) and no post-finish fires. A hook
 * that fails (fail closed) leaves the upload unfinished: the bytes of the request that brought
 * the last ones are cut off again (`undoTo`), so HEAD reports the offset before it and the
 * client's retry sends them once more and asks the hook again. Without `undoTo` (a creating POST,
 * whose client never learnt the upload's URL), or on a store that cannot take bytes back (S3:
 * the parts are sealed), the upload is removed: the client's retry finds it gone and starts anew.
 */
async function preFinish(
  { store, quota, hooks }: Pick<CompletionDeps, 'store' | 'quota' | 'hooks'>,
  context: UploadContext,
  stored: StoredUpload,
  undoTo: number | undefined,
): Promise<Record<string, string>> {
  const id = stored.sidecar.id;
  try {
    return await hooks.preFinish(context, stored);
  } catch (error) {
    if (isHookRejection(error) || undoTo === undefined || !store.backend.canTruncate) {
      await store.removeStored(context, stored);
      quota.release(stored.sidecar.tusport.owner, id);
      context.log.warn({ uploadId: id, status: isCodedError(error) ? error.statusCode : undefined }, 'upload not finished: pre-finish hook said no or failed; deleted');
    } else {
      await store.truncate(context, id, undoTo);
      stored.offset = undoTo;
      context.log.warn({ uploadId: id, offset: undoTo }, 'upload not finished: pre-finish hook failed; the bytes of this request were discarded so the client can resend them');
    }
    throw error;
  }
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
