import { QuotaErrors, type QuotaLimits } from '../policy/quota.js';
import type { Sidecar } from '../stores/sidecar.js';

/**
 * Per-principal quotas over one endpoint's unfinished uploads: how many at once
 * (`maxUnfinishedUploads`), and how many bytes they add up to (`maxBytesInFlight`). An upload
 * counts its declared length; a deferred-length upload counts the bytes it has received, plus,
 * while a request is writing to it, the bytes that request was allowed to bring (`claim`), so two
 * requests of one principal can never both fill the same room. On a `claim` endpoint a finished
 * upload awaiting its claim still counts (src/uploads/quota-holders.ts). Each check and its count
 * are one atomic step. The counts are rebuilt from the store's sidecars when nothing holds them yet.
 *
 * Two implementations: `MemoryQuota` (this process; `locker.type: memory`) and `RedisQuota`
 * (every instance sharing one Redis; `locker.type: redis`). Their answers and errors are the same.
 */
export interface QuotaTracker {
  readonly enabled: boolean;
  /** Whether bytes written to deferred-length uploads must be claimed first. */
  readonly countsBytes: boolean;
  /**
   * Check and, if within limits, count the new upload. `exact: false` (a deferred length whose
   * creation body has no Content-Length): `bytes` is the most it may bring; it is given what room
   * is left and told how much (the body is cut there).
   */
  reserve(owner: string | null, id: string, bytes: number, exact?: boolean): Promise<number>;
  /** Count `bytes` for an upload from now on if its owner stays within `maxBytesInFlight` (413 otherwise, nothing changes). */
  resize(sidecar: Sidecar, bytes: number): Promise<void>;
  /**
   * A request is about to write up to `wanted` bytes to a deferred-length upload at `offset`.
   * Returns how many it may write and counts them. `exact`: the request said its length, so it
   * must fit whole (413 otherwise); a body of unknown length gets whatever room is left. Give the
   * claim back with `settle` once the write is over.
   */
  claim(sidecar: Sidecar, offset: number, wanted: number, exact: boolean): Promise<number>;
  /** The write is over: count what the upload really has (a claim only ever shrinks here). */
  settle(sidecar: Sidecar, bytes: number): Promise<void>;
  /** The upload finished, was terminated or expired. */
  release(owner: string | null, id: string): Promise<void>;
  /** The quota's 413 for a body of unknown length that went past the room its claim was given. */
  exceeded(): Error;
  /**
   * Shared counts only (the sweep calls it, under its lease): make the counts agree with the store,
   * giving back slots no upload holds. Returns how many. In one process the counts cannot drift.
   */
  reconcile?(): Promise<number>;
  /** The app starts: rebuild the counts now (in the background) rather than on the first request. */
  start?(): void;
  /** /readyz: throws, saying why, until the counts are known (and starts a rebuild that failed again). */
  ready?(): Promise<void>;
}

export function quotaEnabled(limits: QuotaLimits): boolean {
  return limits.maxUnfinishedUploads !== undefined || limits.maxBytesInFlight !== undefined;
}

export function quotaExceeded(limits: QuotaLimits): Error {
  return new QuotaErrors.TOO_MANY_BYTES(limits.maxBytesInFlight, `more than ${limits.maxBytesInFlight}`);
}
