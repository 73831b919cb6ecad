import { countedBytes, QuotaErrors, type QuotaLimits } from '../policy/quota.js';
import type { UnfinishedUpload } from '../stores/backend.js';
import type { Sidecar } from '../stores/sidecar.js';
import { quotaEnabled, quotaExceeded, type QuotaTracker } from './quota.js';

/**
 * The quotas of one endpoint counted in this process (`locker.type: memory`): rebuilt from the
 * store's sidecars on first use (`countedBytes`), then kept current by the request path (create,
 * declare, write, finish, terminate, expire). Each check and its count happen with no await in
 * between, so no two requests of this process can both take the last slot.
 */
/**
 * One owner's unfinished uploads and their bytes, with the sum kept as they change: a check costs
 * the same whether the owner has 3 unfinished uploads or 30,000 (no walk over them per request).
 */
class OwnerCounts {
  readonly uploads = new Map<string, number>();
  total = 0;

  set(id: string, bytes: number): void {
    this.total += bytes - (this.uploads.get(id) ?? 0);
    this.uploads.set(id, bytes);
  }

  delete(id: string): void {
    this.total -= this.uploads.get(id) ?? 0;
    this.uploads.delete(id);
  }

  totalExcept(id: string): number {
    return this.total - (this.uploads.get(id) ?? 0);
  }
}

export class MemoryQuota implements QuotaTracker {
  private readonly byOwner = new Map<string, OwnerCounts>();
  private loading: Promise<void> | undefined;

  constructor(
    private readonly endpoint: string,
    /** Lists the store's unfinished uploads (all places). */
    private readonly listUnfinished: () => AsyncIterable<UnfinishedUpload>,
    private readonly limits: QuotaLimits,
  ) {}

  get enabled(): boolean {
    return quotaEnabled(this.limits);
  }

  get countsBytes(): boolean {
    return this.limits.maxBytesInFlight !== undefined;
  }

  private load(): Promise<void> {
    this.loading ??= (async () => {
      for await (const { sidecar, offset } of this.listUnfinished()) {
        const owner = sidecar.tusport.owner;
        if (sidecar.tusport.endpoint === this.endpoint && owner !== null) this.add(owner, sidecar.id, countedBytes(sidecar.size, offset));
      }
    })();
    return this.loading;
  }

  async reserve(owner: string | null, id: string, bytes: number, exact = true): Promise<number> {
    if (!this.enabled || owner === null) return bytes;
    await this.load();
    const uploads = this.byOwner.get(owner) ?? new OwnerCounts();
    const { maxUnfinishedUploads, maxBytesInFlight } = this.limits;
    if (maxUnfinishedUploads !== undefined && uploads.uploads.size >= maxUnfinishedUploads) throw new QuotaErrors.TOO_MANY_UPLOADS(maxUnfinishedUploads);
    const granted = exact || maxBytesInFlight === undefined ? bytes : Math.min(bytes, Math.max(0, maxBytesInFlight - uploads.totalExcept(id)));
    this.checkBytes(uploads, id, granted);
    this.add(owner, id, granted);
    return granted;
  }

  async resize(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.enabled || owner === null) return;
    await this.load();
    const uploads = this.byOwner.get(owner);
    if (!uploads?.uploads.has(sidecar.id)) return;
    this.checkBytes(uploads, sidecar.id, bytes);
    uploads.set(sidecar.id, bytes);
  }

  async claim(sidecar: Sidecar, offset: number, wanted: number, exact: boolean): Promise<number> {
    const owner = sidecar.tusport.owner;
    const max = this.limits.maxBytesInFlight;
    if (max === undefined || owner === null) return wanted;
    await this.load();
    const others = this.byOwner.get(owner)?.totalExcept(sidecar.id) ?? 0;
    const room = Math.max(0, max - others - offset);
    if (wanted > room && (exact || room === 0)) throw new QuotaErrors.TOO_MANY_BYTES(max, others + offset + wanted);
    const granted = Math.min(wanted, room);
    this.add(owner, sidecar.id, offset + granted);
    return granted;
  }

  async settle(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.countsBytes || owner === null) return;
    if (this.byOwner.get(owner)?.uploads.has(sidecar.id)) this.add(owner, sidecar.id, bytes);
  }

  async release(owner: string | null, id: string): Promise<void> {
    if (owner === null) return;
    const uploads = this.byOwner.get(owner);
    uploads?.delete(id);
    if (uploads?.uploads.size === 0) this.byOwner.delete(owner);
  }

  exceeded(): Error {
    return quotaExceeded(this.limits);
  }

  private checkBytes(uploads: OwnerCounts, id: string, bytes: number): void {
    const max = this.limits.maxBytesInFlight;
    const total = uploads.totalExcept(id) + bytes;
    if (max !== undefined && total > max) throw new QuotaErrors.TOO_MANY_BYTES(max, total);
  }

  private add(owner: string, id: string, bytes: number): void {
    const uploads = this.byOwner.get(owner) ?? new OwnerCounts();
    uploads.set(id, bytes);
    this.byOwner.set(owner, uploads);
  }
}
