import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import type { Lock, Locker } from '@tus/server';
import { leaseOf } from '../../coordination/fence.js';
import type { TemplateParams } from '../../endpoints/template.js';
import type { ByteRange, PresignOptions, StorageBackend, StoredUpload, SweepOptions, SweepResult, UnfinishedUpload, WriteLimits, WriteResult } from '../../stores/backend.js';
import type { OverwriteMode } from '../../stores/finalize.js';
import type { Sidecar } from '../../stores/sidecar.js';
import type { MetricsRecorder } from './recorder.js';

/** The locker, timing how long each request waits for an upload's lock. Unchanged with metrics off. */
export function instrumentLocker(locker: Locker, metrics: MetricsRecorder): Locker {
  if (!metrics.enabled) return locker;
  return {
    newLock(id: string): Lock {
      const lock = locker.newLock(id);
      const lease = leaseOf(lock);
      return {
        // The write paths' fence (Redis leases) stays reachable through the timing wrapper.
        ...(lease ? { lease } : {}),
        async lock(signal, cancelReq) {
          const started = performance.now();
          let acquired = false;
          try {
            await lock.lock(signal, cancelReq);
            acquired = true;
          } finally {
            metrics.lockWait((performance.now() - started) / 1000, acquired);
          }
        },
        unlock: () => lock.unlock(),
      };
    },
  };
}

/** The backend, timing every operation and counting the bytes it writes. Unchanged with metrics off. */
export function instrumentBackend(backend: StorageBackend, metrics: MetricsRecorder): StorageBackend {
  return metrics.enabled ? new TimedBackend(backend, metrics) : backend;
}

class TimedBackend implements StorageBackend {
  readonly kind: 'disk' | 's3';
  readonly canTruncate: boolean;
  /** Only where the inner backend has one (completion skips the step otherwise). */
  readonly seal?: (place: string, stored: StoredUpload) => Promise<void>;
  readonly presignGet?: (stored: StoredUpload, options: PresignOptions) => Promise<string>;

  constructor(
    private readonly inner: StorageBackend,
    private readonly metrics: MetricsRecorder,
  ) {
    this.kind = inner.kind;
    this.canTruncate = inner.canTruncate;
    const seal = inner.seal?.bind(inner);
    if (seal) this.seal = (place, stored) => this.timed('seal', () => seal(place, stored));
    const presign = inner.presignGet?.bind(inner);
    if (presign) this.presignGet = (stored, options) => this.timed('presign_get', () => presign(stored, options));
  }

  private async timed<T>(operation: string, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let failed = true;
    try {
      const result = await run();
      failed = false;
      return result;
    } finally {
      this.metrics.storeOperation(this.kind, operation, (performance.now() - started) / 1000, failed);
    }
  }

  place(params: TemplateParams): string {
    return this.inner.place(params);
  }

  create(place: string, sidecar: Sidecar): Promise<StoredUpload> {
    return this.timed('create', () => this.inner.create(place, sidecar));
  }

  get(place: string, id: string): Promise<StoredUpload | undefined> {
    return this.timed('get', () => this.inner.get(place, id));
  }

  getSidecar(place: string, id: string): Promise<Sidecar | undefined> {
    return this.timed('get_sidecar', () => this.inner.getSidecar(place, id));
  }

  async write(place: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    this.metrics.writesInFlight(1);
    try {
      const result = await this.timed('write', () => this.inner.write(place, id, source, offset, limits, stop));
      // Every byte that reached the store, also those a later step undoes (they were received).
      this.metrics.bytesReceived(result.offset - offset);
      return result;
    } finally {
      this.metrics.writesInFlight(-1);
    }
  }

  truncate(place: string, id: string, offset: number): Promise<void> {
    return this.timed('truncate', () => this.inner.truncate(place, id, offset));
  }

  updateSidecar(place: string, sidecar: Sidecar): Promise<void> {
    return this.timed('update_sidecar', () => this.inner.updateSidecar(place, sidecar));
  }

  open(stored: StoredUpload, range?: ByteRange): Promise<Readable> {
    return this.timed('open', () => this.inner.open(stored, range));
  }

  remove(place: string, stored: StoredUpload): Promise<void> {
    return this.timed('remove', () => this.inner.remove(place, stored));
  }

  concatenate(place: string, target: StoredUpload, parts: readonly StoredUpload[]): Promise<void> {
    return this.timed('concatenate', () => this.inner.concatenate(place, target, parts));
  }

  finalize(place: string, stored: StoredUpload, relativePath: string, overwrite: OverwriteMode): Promise<string> {
    return this.timed('finalize', () => this.inner.finalize(place, stored, relativePath, overwrite));
  }

  finalPathTaken(place: string, relativePath: string): Promise<boolean> {
    return this.timed('final_path_taken', () => this.inner.finalPathTaken(place, relativePath));
  }

  listIds(place: string, after: string | undefined): AsyncIterable<string> {
    return this.inner.listIds(place, after);
  }

  finishedBefore(before: number): AsyncIterable<{ place: string; sidecar: Sidecar }> {
    return this.inner.finishedBefore(before);
  }

  unfinished(): AsyncIterable<UnfinishedUpload> {
    return this.inner.unfinished();
  }

  sweep(options: SweepOptions): Promise<SweepResult> {
    return this.timed('sweep', () => this.inner.sweep(options));
  }

  describe(place: string, stored: StoredUpload): Record<string, string> {
    return this.inner.describe(place, stored);
  }

  async check(): Promise<void> {
    await this.inner.check?.();
  }
}
