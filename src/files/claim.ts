import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { storageError } from '../uploads/storage-errors.js';
import { acquireUploadLock, type HeldLock } from '../uploads/lock.js';
import type { StoredUpload } from '../stores/backend.js';
import { isComplete } from '../stores/endpoint-store.js';
import { checkFinalizeTemplate } from '../stores/finalize.js';
import type { ClaimRecord } from '../stores/sidecar.js';
import { completionPending, completionStep } from '../uploads/completion.js';
import type { ClaimOptions, ClaimResult } from './claim-types.js';
import { FileErrors } from './errors.js';

export type { ClaimOptions, ClaimResult };

/**
 * Upload now, claim later. On an endpoint with `claim`, a finished upload stops at the completion
 * step `unclaimed` (src/uploads/completion.ts): stored and checked, but not finalized and not
 * announced. A claim records who claimed it and when (in the sidecar, in the same write that moves
 * the state on), then completion carries on as for any upload: finalize, then post-finish. The
 * claim runs under the upload's lock, as the sweep's removal of unclaimed uploads does, and each
 * re-reads the sidecar under it: of a claim and a sweep racing, exactly one acts.
 */

const MAX_METADATA_ENTRIES = 64;
const MAX_METADATA_BYTES = 8 * 1024;

/** Check a claim's options before anything is locked or read (400 TUSPORT_ERR_CLAIM_INVALID). */
export function checkClaimOptions(runtime: EndpointRuntime, options: ClaimOptions): void {
  if (options.path !== undefined) {
    if (!runtime.config.claim?.allowPath) throw new FileErrors.CLAIM_INVALID('this endpoint does not let a claim choose the path (claim.allowPath)');
    if (typeof options.path !== 'string') throw new FileErrors.CLAIM_INVALID('path must be a string');
    const problem = checkFinalizeTemplate(options.path, runtime.template.params);
    if (problem) throw new FileErrors.CLAIM_INVALID(`path ${problem}`);
  }
  const metadata = options.metadata;
  if (metadata === undefined) return;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) throw new FileErrors.CLAIM_INVALID('metadata must be an object of strings');
  const entries = Object.entries(metadata);
  if (entries.length > MAX_METADATA_ENTRIES) throw new FileErrors.CLAIM_INVALID(`metadata may have at most ${MAX_METADATA_ENTRIES} keys`);
  if (entries.some(([key, value]) => typeof value !== 'string' || !/^[\x21-\x2b\x2d-\x7e]{1,128}$/.test(key))) {
    throw new FileErrors.CLAIM_INVALID('metadata keys must be printable ASCII without spaces or commas, and values strings');
  }
  if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) throw new FileErrors.CLAIM_INVALID(`metadata may be at most ${MAX_METADATA_BYTES} bytes`);
}

/**
 * Claim upload `id` for `by` (the caller has checked the request may see it, or is the app). 409
 * while unfinished, 410 once past `claim.ttl`, 404 when it is gone (the sweep won).
 */
export async function claimUpload(runtime: EndpointRuntime, context: UploadContext, id: string, options: ClaimOptions, by: string | null, lock: HeldLock): Promise<ClaimResult> {
  const ttl = runtime.config.claim?.ttl ?? 0;
  try {
    const stored = await runtime.store.require(id, context);
    if (!isComplete(stored)) throw new FileErrors.CLAIM_UNFINISHED(stored.offset, stored.sidecar.size ?? 'an unknown number of');
    // Bytes all in, completion not yet recorded (a crash): receive them first, which stops at `unclaimed`.
    if (completionStep(stored.sidecar) === undefined) await runtime.complete(context, stored);
    if (completionStep(stored.sidecar) === 'unclaimed') {
      const expiresAt = unclaimedExpiry(stored, ttl);
      if (expiresAt <= Date.now()) throw new FileErrors.CLAIM_EXPIRED(new Date(expiresAt).toISOString());
      await recordClaim(runtime, context, stored, options, by);
      // Accepted by its owner: it no longer counts toward the quota of uploads in flight.
      await runtime.quota.release(stored.sidecar.tusport.owner, id);
    }
    // Claimed now or before: carry completion on if it stopped half-way (idempotent), then answer.
    // A taken final path leaves the claimed file where it is, announced: 409 says so, a repeated claim answers 200.
    if (completionPending(stored)) await runtime.complete(context, stored);
    return resultOf(stored);
  } finally {
    await lock.release();
  }
}

/** Lock `id` for a claim (waits for a PATCH or a sweep that holds it). */
export function lockForClaim(runtime: EndpointRuntime, id: string, gone: AbortSignal): Promise<HeldLock> {
  return acquireUploadLock(runtime.locker, id, runtime.lockDrainMs, gone);
}

/** When an unclaimed upload stops being claimable: its completion time plus `claim.ttl`. */
export function unclaimedExpiry(stored: StoredUpload, ttl: number): number {
  return Date.parse(stored.sidecar.tusport.completed_at ?? stored.sidecar.creation_date) + ttl;
}

/** The claim and the next step in one sidecar write: a crash leaves it unclaimed or claimed, never half. */
async function recordClaim(runtime: EndpointRuntime, context: UploadContext, stored: StoredUpload, options: ClaimOptions, by: string | null): Promise<void> {
  const { sidecar } = stored;
  const record: ClaimRecord = { by, at: new Date().toISOString(), ...(options.path !== undefined ? { path: options.path } : {}) };
  const before = { metadata: sidecar.metadata, completion: sidecar.tusport.completion };
  if (options.metadata) sidecar.metadata = { ...(sidecar.metadata ?? {}), ...options.metadata };
  sidecar.tusport.claim = record;
  sidecar.tusport.completion = runtime.config.finalize || options.path !== undefined ? 'received' : 'finalized';
  try {
    await runtime.store.backend.updateSidecar(context.place, sidecar);
  } catch (error) {
    sidecar.metadata = before.metadata;
    sidecar.tusport.completion = before.completion;
    delete sidecar.tusport.claim;
    throw storageError(error, context.log, sidecar.id);
  }
  context.log.info({ uploadId: sidecar.id, by }, 'upload claimed');
}

function resultOf(stored: StoredUpload): ClaimResult {
  const { sidecar } = stored;
  return {
    id: sidecar.id,
    size: stored.offset,
    location: sidecar.tusport.final_path ?? null,
    claimedAt: sidecar.tusport.claim?.at ?? null,
    claimedBy: sidecar.tusport.claim?.by ?? null,
    metadata: { ...(sidecar.metadata ?? {}) },
  };
}
