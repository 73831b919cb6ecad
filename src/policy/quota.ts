import createError from '@fastify/error';
import type { Sidecar } from '../stores/sidecar.js';
import type { UnfinishedUpload } from '../stores/backend.js';

export const QuotaErrors = {
  TOO_MANY_UPLOADS: createError('TUSPORT_ERR_QUOTA_UPLOADS', 'Quota reached: at most %s unfinished uploads at a time; finish or delete one first', 429),
  TOO_MANY_BYTES: createError('TUSPORT_ERR_QUOTA_BYTES', 'Quota reached: unfinished uploads may add up to %s bytes; this one would make %s', 413),
};

export interface QuotaLimits {
  maxUnfinishedUploads?: number | undefined;
  maxBytesInFlight?: number | undefined;
}

/** What one upload counts against its owner's `maxBytesInFlight`: its declared length, else the bytes it has. */
export function countedBytes(size: number | undefined, offset: number): number {
  return size ?? offset;
}

/**
 * Per-principal quotas over one endpoint's unfinished uploads: how many at once, and how many
 * bytes they add up to. An upload counts its declared length; a deferred-length upload counts
 * the bytes it has received, plus, while a request is writing to it, the bytes that request was
 * allowed to bring (`claim`), so two requests of one principal can never both fill the same room.
 * The same count is rebuilt from the store's sidecars on first use (`countedBytes`), then kept
 * current by the request path (create, declare, write, finish, terminate, expire). It lives in
 * this process: instances sharing a store need a shared counter, which the Redis layer will
 * provide.
 */
export class QuotaTracker {
  private readonly byOwner = new Map<string, Map<string, number>>();
  private loading: Promise<void> | undefined;

  constructor(
    private readonly endpoint: string,
    /** Lists the store's unfinished uploads (all places). */
    private readonly listUnfinished: () => AsyncIterable<UnfinishedUpload>,
    private readonly limits: QuotaLimits,
  ) {}

  get enabled(): boolean {
    return this.limits.maxUnfinishedUploads !== undefined || this.limits.maxBytesInFlight !== undefined;
  }

  /** Whether bytes written to deferred-length uploads must be claimed first. */
  get countsBytes(): boolean {
    return this.limits.maxBytesInFlight !== undefined;
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      for await (const { sidecar, offset } of this.listUnfinished()) {
        if (sidecar.tusport.endpoint === this.endpoint) this.add(sidecar.tusport.owner, sidecar.id, countedBytes(sidecar.size, offset));
      }
    })();
    return this.loading;
  }

  /**
   * Check and, if within limits, count the new upload at once (no await between, so no race).
   * `exact: false` (a deferred length whose creation body has no Content-Length): `bytes` is the
   * most it may bring; it is given what room is left and told how much (the body is cut there).
   */
  async reserve(owner: string | null, id: string, bytes: number, exact = true): Promise<number> {
    if (!this.enabled || owner === null) return bytes;
    await this.load();
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    const { maxUnfinishedUploads, maxBytesInFlight } = this.limits;
    if (maxUnfinishedUploads !== undefined && uploads.size >= maxUnfinishedUploads) throw new QuotaErrors.TOO_MANY_UPLOADS(maxUnfinishedUploads);
    const granted = exact || maxBytesInFlight === undefined ? bytes : Math.min(bytes, Math.max(0, maxBytesInFlight - this.totalExcept(uploads, id)));
    this.checkBytes(uploads, id, granted);
    this.add(owner, id, granted);
    return granted;
  }

  /**
   * Count `bytes` for an upload from now on if its owner stays within `maxBytesInFlight`
   * (413 otherwise, and nothing changes): a deferred length being declared.
   */
  async resize(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.enabled || owner === null) return;
    await this.load();
    const uploads = this.byOwner.get(owner);
    if (!uploads?.has(sidecar.id)) return;
    this.checkBytes(uploads, sidecar.id, bytes);
    uploads.set(sidecar.id, bytes);
  }

  /**
   * A request is about to write up to `wanted` bytes to a deferred-length upload at `offset`.
   * Returns how many it may write and counts them at once (no await between check and count).
   * `exact`: the request said its length (Content-Length), so it must fit whole (413 otherwise,
   * before a byte is read); a body of unknown length gets whatever room is left and is cut there.
   * Give the claim back with `settle` once the write is over.
   */
  async claim(sidecar: Sidecar, offset: number, wanted: number, exact: boolean): Promise<number> {
    const owner = sidecar.tusport.owner;
    const max = this.limits.maxBytesInFlight;
    if (max === undefined || owner === null) return wanted;
    await this.load();
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    const others = this.totalExcept(uploads, sidecar.id);
    const room = Math.max(0, max - others - offset);
    if (wanted > room && (exact || room === 0)) throw new QuotaErrors.TOO_MANY_BYTES(max, others + offset + wanted);
    const granted = Math.min(wanted, room);
    this.add(owner, sidecar.id, offset + granted);
    return granted;
  }

  /** The write is over: count what the upload really has (a claim only ever shrinks here). */
  settle(sidecar: Sidecar, bytes: number): void {
    const owner = sidecar.tusport.owner;
    if (!this.countsBytes || owner === null) return;
    if (this.byOwner.get(owner)?.has(sidecar.id)) this.add(owner, sidecar.id, bytes);
  }

  /** The upload finished, was terminated or expired. */
  release(owner: string | null, id: string): void {
    if (owner === null) return;
    const uploads = this.byOwner.get(owner);
    uploads?.delete(id);
    if (uploads?.size === 0) this.byOwner.delete(owner);
  }

  /** The quota's 413 for a body of unknown length that went past the room its claim was given. */
  exceeded(): Error {
    return new QuotaErrors.TOO_MANY_BYTES(this.limits.maxBytesInFlight, `more than ${this.limits.maxBytesInFlight}`);
  }

  private checkBytes(uploads: Map<string, number>, id: string, bytes: number): void {
    const max = this.limits.maxBytesInFlight;
    const total = this.totalExcept(uploads, id) + bytes;
    if (max !== undefined && total > max) throw new QuotaErrors.TOO_MANY_BYTES(max, total);
  }

  private totalExcept(uploads: Map<string, number>, id: string): number {
    let total = 0;
    for (const [other, bytes] of uploads) if (other !== id) total += bytes;
    return total;
  }

  private add(owner: string | null, id: string, bytes: number): void {
    if (owner === null) return;
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    uploads.set(id, bytes);
    this.byOwner.set(owner, uploads);
  }
}
