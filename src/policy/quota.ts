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

/**
 * Per-principal quotas over one endpoint's unfinished uploads: how many at once, and how many
 * declared bytes they add up to (a deferred-length upload counts the bytes it has so far).
 * The index is built from the sidecars on first use and then kept current by the request path
 * (create, finish, terminate, expire). It lives in this process: instances sharing a store need a
 * shared counter, which the Redis layer will provide.
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

  private load(): Promise<void> {
    this.loading ??= (async () => {
      for await (const { sidecar, offset } of this.listUnfinished()) {
        if (sidecar.tusport.endpoint === this.endpoint) this.add(sidecar.tusport.owner, sidecar.id, sidecar.size ?? offset);
      }
    })();
    return this.loading;
  }

  /** Check and, if within limits, count the new upload at once (no await between, so no race). */
  async reserve(owner: string | null, id: string, bytes: number): Promise<void> {
    if (!this.enabled || owner === null) return;
    await this.load();
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    const { maxUnfinishedUploads, maxBytesInFlight } = this.limits;
    if (maxUnfinishedUploads !== undefined && uploads.size >= maxUnfinishedUploads) throw new QuotaErrors.TOO_MANY_UPLOADS(maxUnfinishedUploads);
    const total = [...uploads.values()].reduce((sum, n) => sum + n, 0) + bytes;
    if (maxBytesInFlight !== undefined && total > maxBytesInFlight) throw new QuotaErrors.TOO_MANY_BYTES(maxBytesInFlight, total);
    this.add(owner, id, bytes);
  }

  /** A deferred length was declared: count the declared size from now on. */
  resize(sidecar: Sidecar, bytes: number): void {
    const owner = sidecar.tusport.owner;
    if (owner !== null && this.byOwner.get(owner)?.has(sidecar.id)) this.add(owner, sidecar.id, bytes);
  }

  /** The upload finished, was terminated or expired. */
  release(owner: string | null, id: string): void {
    if (owner === null) return;
    const uploads = this.byOwner.get(owner);
    uploads?.delete(id);
    if (uploads?.size === 0) this.byOwner.delete(owner);
  }

  private add(owner: string | null, id: string, bytes: number): void {
    if (owner === null) return;
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    uploads.set(id, bytes);
    this.byOwner.set(owner, uploads);
  }
}
