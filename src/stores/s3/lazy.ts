import type { Readable } from 'node:stream';
import { renderTemplate, type TemplateParams } from '../../endpoints/template.js';
import type { ByteRange, PresignOptions, StorageBackend, StoredUpload, SweepOptions, SweepResult, UnfinishedUpload, WriteLimits, WriteResult } from '../backend.js';
import type { OverwriteMode } from '../finalize.js';
import type { Sidecar } from '../sidecar.js';
import type { S3Backend, S3StateCacheOptions } from './backend.js';
import { infoKey } from './info.js';
import type { S3StoreConfig } from './schema.js';
import { NO_METRICS, type MetricsRecorder } from '../../observability/metrics/recorder.js';

/**
 * The S3 backend, loaded on first use: `./backend.js` brings in the AWS SDK
 * (about 15 MB of memory per process), which a server with only disk endpoints never needs.
 * Every call is passed on to the real S3Backend once its module has loaded.
 */
export class LazyS3Backend implements StorageBackend {
  readonly kind = 's3';
  readonly canTruncate = false;
  private loading: Promise<S3Backend> | undefined;

  constructor(
    private readonly config: S3StoreConfig,
    private readonly metrics: MetricsRecorder = NO_METRICS,
    private readonly stateCache?: S3StateCacheOptions,
  ) {}

  /** The real backend (loaded and built once). */
  load(): Promise<S3Backend> {
    this.loading ??= import('./backend.js').then(({ S3Backend }) => new S3Backend(this.config, this.metrics, this.stateCache));
    return this.loading;
  }

  place(params: TemplateParams): string {
    return renderTemplate(this.config.prefix, params);
  }

  async create(place: string, sidecar: Sidecar): Promise<StoredUpload> {
    return (await this.load()).create(place, sidecar);
  }

  async get(place: string, id: string): Promise<StoredUpload | undefined> {
    return (await this.load()).get(place, id);
  }

  async getSidecar(place: string, id: string): Promise<Sidecar | undefined> {
    return (await this.load()).getSidecar(place, id);
  }

  async write(place: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    return (await this.load()).write(place, id, source, offset, limits, stop);
  }

  async seal(place: string, stored: StoredUpload): Promise<void> {
    return (await this.load()).seal(place, stored);
  }

  async truncate(): Promise<void> {
    return (await this.load()).truncate();
  }

  async updateSidecar(place: string, sidecar: Sidecar): Promise<void> {
    return (await this.load()).updateSidecar(place, sidecar);
  }

  async open(stored: StoredUpload, range?: ByteRange): Promise<Readable> {
    return (await this.load()).open(stored, range);
  }

  async presignGet(stored: StoredUpload, options: PresignOptions): Promise<string> {
    return (await this.load()).presignGet(stored, options);
  }

  async remove(place: string, stored: StoredUpload): Promise<void> {
    return (await this.load()).remove(place, stored);
  }

  async concatenate(place: string, target: StoredUpload, parts: readonly StoredUpload[]): Promise<void> {
    return (await this.load()).concatenate(place, target, parts);
  }

  async finalize(place: string, stored: StoredUpload, relativePath: string, overwrite: OverwriteMode): Promise<string> {
    return (await this.load()).finalize(place, stored, relativePath, overwrite);
  }

  async finalPathTaken(place: string, relativePath: string): Promise<boolean> {
    return (await this.load()).finalPathTaken(place, relativePath);
  }

  async *listIds(place: string, after: string | undefined): AsyncIterable<string> {
    yield* (await this.load()).listIds(place, after);
  }

  async *finishedBefore(before: number): AsyncIterable<{ place: string; sidecar: Sidecar }> {
    yield* (await this.load()).finishedBefore(before);
  }

  async *unfinished(): AsyncIterable<UnfinishedUpload> {
    yield* (await this.load()).unfinished();
  }

  async sweep(options: SweepOptions): Promise<SweepResult> {
    return (await this.load()).sweep(options);
  }

  /** As S3Backend.describe (synchronous, so it cannot wait for the module). */
  describe(place: string, stored: StoredUpload): Record<string, string> {
    return { Type: 's3store', Bucket: this.config.bucket, Key: stored.location, InfoKey: infoKey(place + stored.sidecar.id) };
  }

  async check(): Promise<void> {
    return (await this.load()).check();
  }
}
