import type { EndpointConfig } from '../config/schema.js';
import type { UploadContext } from '../endpoints/context.js';
import { isCodedError } from '../errors.js';
import type { EndpointHooks } from '../hooks/dispatcher.js';
import { isHookRejection } from '../hooks/errors.js';
import type { FinishedUpload } from '../hooks/types.js';
import { type AcceptRules, parseAccept, verifyContent } from '../policy/accept.js';
import { PolicyErrors } from '../policy/creation.js';
import type { QuotaTracker } from '../policy/quota.js';
import { storageError } from './storage-errors.js';
import type { StoredUpload } from '../stores/backend.js';
import { type EndpointStore, isComplete } from '../stores/endpoint-store.js';
import { renderFinalPath } from '../stores/finalize.js';
import type { CompletionStep, Sidecar } from '../stores/sidecar.js';

/**
 * Completion: what happens once an upload's last byte is stored, as a small state machine
 * persisted in the sidecar (`tusport.completion`), so a step that fails is never lost:
 *
 *   (bytes in) --receive--> received --finalize--> finalized --notify--> notified
 *                      \-> unclaimed --claim--/   (endpoints with `claim`: src/files/claim.ts)
 *
 * - receive: the bytes pass `accept`, pre-finish hooks say yes; `completed_at` is recorded and the
 *   quota slot given back (on a `claim` endpoint only once it is claimed). From here on the upload is complete and is never deleted for expiry.
 * - finalize: the file moves to its `finalize.path` (skipped when there is none).
 * - notify: `onUploadDone` runs and post-finish notifications go to the durable outbox. With
 *   nothing to move and nobody to tell, one sidecar write records all three steps at once.
 *
 * Each step is idempotent and recorded when done. A step that cannot be done now (disk full, store
 * down, a finalize directory it may not write) fails the request with 507/503 and leaves the state
 * where it was; the next HEAD or PATCH of the upload, or the next sweep, carries on from there.
 * Nothing here knows which protocol asked: callers translate to and from their wire format.
 */

export interface CompletionDeps {
  config: EndpointConfig;
  store: EndpointStore;
  accept: AcceptRules | undefined;
  quota: QuotaTracker;
  hooks: EndpointHooks;
}

export interface CompletionRequest {
  /**
   * Where the request that brought the last bytes began: a pre-finish hook that fails cuts the
   * upload back to it, so the client can send those bytes again and ask once more.
   */
  undoTo?: number | undefined;
  /**
   * The request is the creation itself (creation with upload): its client learns the upload's
   * URL only from a success, so a refusal removes the upload instead of leaving it behind.
   */
  creating?: boolean | undefined;
  /**
   * No client is waiting (the sweep carries on a completion a crash interrupted): a pre-finish
   * hook that fails leaves the upload as it is for the next try, since there is no client to
   * resend anything. A hook that says no still removes it.
   */
  background?: boolean | undefined;
}

/** Resolves with the response headers pre-finish hooks asked for. The caller holds the upload's lock. */
export type Complete = (context: UploadContext, stored: StoredUpload, request?: CompletionRequest) => Promise<Record<string, string>>;

/** How far an upload's completion got; undefined until its last byte is recorded. */
export function completionStep(sidecar: Sidecar): CompletionStep | undefined {
  if (sidecar.tusport.completed_at === undefined) return undefined;
  // Sidecars written before completion had steps were recorded once everything had run.
  return sidecar.tusport.completion ?? 'notified';
}

/**
 * Every byte is in but completion has not run to its end (a crash, or a step that failed). An
 * upload waiting for its claim is not pending: only a claim moves it on.
 */
export function completionPending(stored: StoredUpload): boolean {
  const step = completionStep(stored.sidecar);
  return isComplete(stored) && step !== 'notified' && step !== 'unclaimed';
}

export function completionFor(deps: CompletionDeps): Complete {
  return async (context, stored, request = {}) => {
    if (stored.sidecar.tusport.concat === 'partial') {
      await receivePartial(deps, context, stored);
      return {};
    }
    let headers: Record<string, string> = {};
    let clash: Error | undefined;
    if (completionStep(stored.sidecar) === undefined) headers = await receive(deps, context, stored, request);
    if (completionStep(stored.sidecar) === 'received') clash = await finalize(deps, context, stored, request);
    if (completionStep(stored.sidecar) === 'finalized') await notify(deps, context, stored);
    // The upload is complete and kept where it is; the client learns its final name was taken.
    if (clash) throw clash;
    return headers;
  };
}

async function receive(deps: CompletionDeps, context: UploadContext, stored: StoredUpload, request: CompletionRequest): Promise<Record<string, string>> {
  const { store, accept, quota } = deps;
  const id = stored.sidecar.id;
  const owner = stored.sidecar.tusport.owner;
  await step(context, id, 'could not seal the upload', () => store.backend.seal?.(context.place, stored));
  // The endpoint's rules, and a signed upload token's narrower ones recorded at creation.
  const tokenAccept = stored.sidecar.tusport.accept ? parseAccept(stored.sidecar.tusport.accept) : undefined;
  for (const rules of [accept, tokenAccept]) {
    if (!rules) continue;
    const verdict = await step(context, id, 'could not read the upload to check its type', () => verifyContent(rules, () => store.openStored(stored)));
    if (!verdict.ok) {
      await store.removeStored(context, stored);
      await quota.release(owner, id);
      context.log.warn({ uploadId: id, sniffed: verdict.sniffed }, 'upload rejected: content type not accepted; deleted');
      throw new PolicyErrors.CONTENT_NOT_ACCEPTED(verdict.sniffed, rules.list.join(', '));
    }
  }
  const headers = await preFinish(deps, context, stored, request);
  // A claim endpoint's upload stays temporary until claimed; with nothing to move, received and
  // finalized are one step, and with nobody to tell either, the whole completion is (each sidecar
  // write is a temp file, two fsyncs and a rename: with many small uploads they are the cost).
  const silent = !deps.config.onUploadDone && !deps.hooks.wants('post-finish');
  const next: CompletionStep = deps.config.claim ? 'unclaimed' : deps.config.finalize ? 'received' : silent ? 'notified' : 'finalized';
  await record(deps, context, stored, next, new Date().toISOString());
  // Awaiting its claim, it still holds its owner's quota (src/uploads/quota-holders.ts): the claim,
  // a DELETE or the sweep past `claim.ttl` gives the place back.
  // It counts what it holds now (a direct upload may not have declared its size).
  if (next === 'unclaimed') await quota.settle(stored.sidecar, stored.offset);
  else await quota.release(owner, id);
  if (next === 'notified') {
    // Nobody wants post-finish, but the finished-uploads metric counts it here (hooks.notify
    // counts every finished upload, hooks or not).
    await deps.hooks.notify('post-finish', context, stored);
    logFinished(context, stored);
  }
  return headers;
}

/** Logged once completion is recorded: never twice for one upload, whatever crashes came in between. */
function logFinished(context: UploadContext, stored: StoredUpload): void {
  context.log.info({ uploadId: stored.sidecar.id, size: stored.offset, path: stored.location }, 'upload finished');
}

/**
 * A partial upload of a concatenation is only a piece of a file (src/uploads/concat.ts): sealed and
 * recorded as received, done at once. Accept-sniffing, hooks and finalize wait for the final upload.
 */
async function receivePartial(deps: CompletionDeps, context: UploadContext, stored: StoredUpload): Promise<void> {
  if (completionStep(stored.sidecar) !== undefined) return;
  await step(context, stored.sidecar.id, 'could not seal the upload', () => deps.store.backend.seal?.(context.place, stored));
  await record(deps, context, stored, 'notified', new Date().toISOString());
  await deps.quota.release(stored.sidecar.tusport.owner, stored.sidecar.id);
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
async function preFinish({ store, quota, hooks }: CompletionDeps, context: UploadContext, stored: StoredUpload, { undoTo, background }: CompletionRequest): Promise<Record<string, string>> {
  const id = stored.sidecar.id;
  try {
    return await hooks.preFinish(context, stored);
  } catch (error) {
    if (background && !isHookRejection(error)) {
      context.log.warn({ uploadId: id }, 'upload not finished: pre-finish hook failed; the next sweep asks again');
    } else if (isHookRejection(error) || undoTo === undefined || !store.backend.canTruncate) {
      await store.removeStored(context, stored);
      await quota.release(stored.sidecar.tusport.owner, id);
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
 * Move the finished file to its templated path (rendered with the completion date, so a retry
 * renders the same path). A name clash under `overwrite: false` leaves the bytes at the upload's
 * own location (complete, reachable at its URL), reported to the client as 409; the file is
 * never clobbered. For a creating request the clash refuses the creation: the upload is removed.
 */
async function finalize(deps: CompletionDeps, context: UploadContext, stored: StoredUpload, request: CompletionRequest): Promise<Error | undefined> {
  const { sidecar } = stored;
  // A claim may name the final path itself (`claim.allowPath`).
  const claimed = sidecar.tusport.claim?.path;
  const settings = claimed ? { path: claimed, overwrite: deps.config.finalize?.overwrite ?? false } : deps.config.finalize;
  const id = sidecar.id;
  let clash: Error | undefined;
  if (settings) {
    const now = new Date(sidecar.tusport.completed_at ?? Date.now());
    const relativePath = renderFinalPath(settings.path, { params: sidecar.tusport.params, id, filename: sidecar.metadata?.filename, now });
    try {
      stored.location = await deps.store.backend.finalize(context.place, stored, relativePath, settings.overwrite);
    } catch (error) {
      if (!isCodedError(error) || error.statusCode !== 409) {
        context.log.error({ uploadId: id, finalPath: relativePath, err: error }, 'could not finalize the upload; it stays complete and is finalized once the store allows');
        throw storageError(error, context.log, id);
      }
      if (request.creating) {
        await deps.store.removeStored(context, stored);
        context.log.warn({ uploadId: id, finalPath: relativePath }, 'final path taken; the creation is refused and the upload removed');
        throw error;
      }
      context.log.warn({ uploadId: id, finalPath: relativePath }, 'final path taken; the upload stays at its upload location');
      clash = error;
    }
  }
  await record(deps, context, stored, 'finalized');
  return clash;
}

async function notify(deps: CompletionDeps, context: UploadContext, stored: StoredUpload): Promise<void> {
  const id = stored.sidecar.id;
  await runDoneHook(deps.config, context, stored);
  // Into the durable outbox before the client is answered. A crash between this and recording the
  // step sends post-finish again on resumption, with the same idempotency key (at least once).
  await step(context, id, 'could not queue post-finish notifications', () => deps.hooks.notify('post-finish', context, stored));
  await record(deps, context, stored, 'notified');
  logFinished(context, stored);
}

/** Record a step in the sidecar; a store that cannot take the write answers 507/503 and the step is redone later. */
async function record(deps: CompletionDeps, context: UploadContext, stored: StoredUpload, next: CompletionStep, completedAt?: string): Promise<void> {
  const tusport = stored.sidecar.tusport;
  const before = { completion: tusport.completion, completed_at: tusport.completed_at };
  tusport.completion = next;
  if (completedAt) tusport.completed_at = completedAt;
  try {
    await deps.store.backend.updateSidecar(context.place, stored.sidecar);
  } catch (error) {
    // Not done until it is recorded: keep the in-memory sidecar as the store has it.
    tusport.completion = before.completion;
    if (before.completed_at === undefined) delete tusport.completed_at;
    context.log.error({ uploadId: stored.sidecar.id, step: next, err: error }, 'could not record completion in the sidecar');
    throw storageError(error, context.log, stored.sidecar.id);
  }
}

/** A store operation of a step: its failure becomes 507/503, never a 500. */
async function step<T>(context: UploadContext, id: string, what: string, operation: () => Promise<T> | T): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isCodedError(error)) throw error;
    context.log.error({ uploadId: id, err: error }, what);
    throw storageError(error, context.log, id);
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
