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
export class MemoryQuota implements QuotaTracker {
  private readonly byOwner = new Map<string, Map<string, number>>();
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
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    const { maxUnfinishedUploads, maxBytesInFlight } = this.limits;
    if (maxUnfinishedUploads !== undefined && uploads.size >= maxUnfinishedUploads) throw new QuotaErrors.TOO_MANY_UPLOADS(maxUnfinishedUploads);
    const granted = exact || maxBytesInFlight === undefined ? bytes : Math.min(bytes, Math.max(0, maxBytesInFlight - this.totalExcept(uploads, id)));
    this.checkBytes(uploads, id, granted);
    this.add(owner, id, granted);
    return granted;
  }

  async resize(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.enabled || owner === null) return;
    await this.load();
    const uploads = this.byOwner.get(owner);
    if (!uploads?.has(sidecar.id)) return;
    this.checkBytes(uploads, sidecar.id, bytes);
    uploads.set(sidecar.id, bytes);
  }

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

  async settle(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.countsBytes || owner === null) return;
    if (this.byOwner.get(owner)?.has(sidecar.id)) this.add(owner, sidecar.id, bytes);
  }

  async release(owner: string | null, id: string): Promise<void> {
    if (owner === null) return;
    const uploads = this.byOwner.get(owner);
    uploads?.delete(id);
    if (uploads?.size === 0) this.byOwner.delete(owner);
  }

  exceeded(): Error {
    return quotaExceeded(this.limits);
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

  private add(owner: string, id: string, bytes: number): void {
    const uploads = this.byOwner.get(owner) ?? new Map<string, number>();
    uploads.set(id, bytes);
    this.byOwner.set(owner, uploads);
  }
}
