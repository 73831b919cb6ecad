import type { FastifyBaseLogger } from 'fastify';
import { countedBytes, QuotaErrors, type QuotaLimits } from '../policy/quota.js';
import type { UnfinishedUpload } from '../stores/backend.js';
import type { Sidecar } from '../stores/sidecar.js';
import { quotaEnabled, quotaExceeded, type QuotaTracker } from './quota.js';
import { notCountedYet, waitForCounts } from './quota-warmup.js';

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

/**
 * The quotas of one endpoint counted in this process (`locker.type: memory`): rebuilt from the
 * store's sidecars (`countedBytes`) when the app starts (`start`; else on first use), then kept
 * current by the request path (create, declare, write, finish, terminate, expire). Until the
 * counts are known /readyz says not ready, and a quota-checked request waits for them at most
 * REQUEST_WAIT_MS, then gets 503 with Retry-After. Each check and its count happen with no await
 * in between, so no two requests of this process can both take the last slot.
 *
 * While the listing runs no upload is created here (reservations wait for it), but uploads the
 * listing has already read may finish or be terminated: their ids are remembered and not counted.
 * A listing that fails (the store down) is tried again by the next request or probe.
 */
export class MemoryQuota implements QuotaTracker {
  private readonly byOwner = new Map<string, OwnerCounts>();
  private loading: Promise<void> | undefined;
  private loaded = false;
  /** Released while the listing ran: the listing may have read them before. */
  private readonly releasedWhileLoading = new Set<string>();
  private counted = 0;
  private failure: unknown;

  constructor(
    private readonly endpoint: string,
    /** Lists the store's unfinished uploads (all places). */
    private readonly listUnfinished: () => AsyncIterable<UnfinishedUpload>,
    private readonly limits: QuotaLimits,
    private readonly log?: FastifyBaseLogger,
  ) {}

  /** The app starts: count now, not on the first request. */
  start(): void {
    if (!this.enabled) return;
    this.load().catch(() => undefined);
  }

  /** /readyz: the counts are known (a failed listing is started again, and is not ready). */
  async ready(): Promise<void> {
    if (!this.enabled || this.loaded) return;
    const failure = this.failure;
    this.start();
    throw notCountedYet(this.endpoint, this.counted, failure);
  }

  get enabled(): boolean {
    return quotaEnabled(this.limits);
  }

  get countsBytes(): boolean {
    return this.limits.maxBytesInFlight !== undefined;
  }

  private load(): Promise<void> {
    this.loading ??= this.count().then(
      () => {
        this.loaded = true;
        this.releasedWhileLoading.clear();
      },
      (error: unknown) => {
        this.loading = undefined;
        this.failure = error;
        this.log?.warn({ endpoint: this.endpoint, err: error }, 'quota counts could not be rebuilt from the store; /readyz and the next request try again');
        throw error;
      },
    );
    return this.loading;
  }

  private async count(): Promise<void> {
    const started = Date.now();
    for await (const { sidecar, offset } of this.listUnfinished()) {
      const owner = sidecar.tusport.owner;
      if (sidecar.tusport.endpoint !== this.endpoint || owner === null || this.releasedWhileLoading.has(sidecar.id)) continue;
      // A failed listing tried again counts what it has counted already once.
      if (this.byOwner.get(owner)?.uploads.has(sidecar.id)) continue;
      this.add(owner, sidecar.id, countedBytes(sidecar.size, offset));
      this.counted += 1;
    }
    this.log?.info({ endpoint: this.endpoint, uploads: this.counted, ms: Date.now() - started }, 'quota counts rebuilt from the store');
  }

  /** The counts, waited for at most REQUEST_WAIT_MS. */
  private async counts(): Promise<void> {
    if (!this.loaded) await waitForCounts(this.load());
  }

  async reserve(owner: string | null, id: string, bytes: number, exact = true): Promise<number> {
    if (!this.enabled || owner === null) return bytes;
    await this.counts();
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
    await this.counts();
    const uploads = this.byOwner.get(owner);
    if (!uploads?.uploads.has(sidecar.id)) return;
    this.checkBytes(uploads, sidecar.id, bytes);
    uploads.set(sidecar.id, bytes);
  }

  async claim(sidecar: Sidecar, offset: number, wanted: number, exact: boolean): Promise<number> {
    const owner = sidecar.tusport.owner;
    const max = this.limits.maxBytesInFlight;
    if (max === undefined || owner === null) return wanted;
    await this.counts();
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
    if (!this.loaded) this.releasedWhileLoading.add(id);
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
