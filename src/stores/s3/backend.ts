import type { S3 } from '@aws-sdk/client-s3';
import { PassThrough, Readable } from 'node:stream';
import { renderTemplate, type TemplateParams } from '../../endpoints/template.js';
import type { ByteRange, ChunkVerifier, PresignOptions, StorageBackend, StoredUpload, SweepOptions, SweepResult, UnfinishedUpload, WriteLimits, WriteResult } from '../backend.js';
import type { OverwriteMode } from '../finalize.js';
import type { Sidecar } from '../sidecar.js';
import { sweepDeadScratch } from '../scratch.js';
import { stageBody } from '../staged-body.js';
import { copyWithLimit } from '../stream-copy.js';
import { unverified } from '../verified-write.js';
import { createS3Client } from './client.js';
import { describeS3Error, isNoSuchUpload } from './errors.js';
import { concatenateObjects } from './concat.js';
import { copyToFinalKey, objectExists } from './finalize.js';
import { infoKey, partKey, postKey, readInfo } from './info.js';
import { PartWriter } from './part-writer.js';
import { S3WriteFences } from './write-fence.js';
import type { S3StoreConfig } from './schema.js';
import { offsetOf } from './upload-state.js';
import { type CacheRedis, S3StateCache } from './state-cache.js';
import { type Progress, UploadStates } from './states.js';
import type { WriteFence } from '../../coordination/fence.js';
import { listOpenUploads, type OpenUpload, SIDECARS_AT_ONCE, sweepBucket } from './sweep.js';
import { mapInBatches } from '../batches.js';
import { NO_METRICS, type MetricsRecorder } from '../../observability/metrics/recorder.js';
import { instrumentS3Client } from '../../observability/metrics/s3.js';

/** Bytes buffered between the socket and the part splitter. */
const PIPE_BUFFER_BYTES = 1024 * 1024;
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;

/** With Redis: where the state cache lives and how long its entries outlast their last write. */
export interface S3StateCacheOptions {
  redis: CacheRedis;
  ttlMs: number;
}

/** Bytes received: committed parts plus the valid tail; the full size once S3 completed the upload. */
function offsetAfter(progress: Progress, size: number | undefined): number {
  if (progress === 'completed') return size ?? 0;
  return progress === 'gone' ? 0 : offsetOf(progress);
}

export class S3StoreUnavailable extends Error {
  override name = 'S3StoreUnavailable';
}

/**
 * Uploads as S3 objects under the endpoint's templated prefix: a multipart upload at
 * `<prefix><id>` while bytes arrive, the sidecar at `<prefix><id>.info` and, between PATCHes, a
 * tail smaller than minPartSize at `<prefix><id>.part` (the layout of @tus/s3-store; our
 * PartWriter writes it so that no acknowledged byte depends on one process staying alive). The
 * offset is what S3 holds: the committed parts plus the tail when it follows them (upload-state.ts).
 */
export class S3Backend implements StorageBackend {
  readonly kind = 's3';
  readonly canTruncate = false;
  readonly client: S3;
  private readonly writer: PartWriter;
  private readonly fences: S3WriteFences;
  private readonly states: UploadStates;

  constructor(
    readonly config: S3StoreConfig,
    metrics: MetricsRecorder = NO_METRICS,
    stateCache?: S3StateCacheOptions,
  ) {
    this.client = createS3Client(config);
    instrumentS3Client(this.client, metrics);
    this.writer = new PartWriter(this.client, config);
    this.states = new UploadStates(this.client, config.bucket, stateCache && new S3StateCache(stateCache.redis, config.bucket, stateCache.ttlMs));
    this.fences = new S3WriteFences(this.client);
    // Chunk files of instances that died on this host go now, not at the first write (scratch.ts).
    void sweepDeadScratch();
  }

  get bucket(): string {
    return this.config.bucket;
  }

  /** The prefix with the request's params (each already checked to be one safe segment). */
  place(params: TemplateParams): string {
    return renderTemplate(this.config.prefix, params);
  }

  async create(prefix: string, sidecar: Sidecar): Promise<StoredUpload> {
    const key = prefix + sidecar.id;
    const filetype = sidecar.metadata?.filetype;
    const created = await this.client.createMultipartUpload({
      Bucket: this.bucket,
      Key: key,
      ...(filetype && MIME_TYPE.test(filetype) ? { ContentType: filetype } : {}),
    });
    // A crash between these two calls leaves a multipart upload without a sidecar: the sweep
    // aborts such orphans after an hour.
    await this.states.created(key, sidecar, created.UploadId);
    return { sidecar, offset: 0, location: key, multipartId: created.UploadId };
  }

  async getSidecar(prefix: string, id: string): Promise<Sidecar | undefined> {
    const info = await this.states.info(prefix + id);
    return info?.sidecar.id === id ? info.sidecar : undefined;
  }

  async get(prefix: string, id: string): Promise<StoredUpload | undefined> {
    const key = prefix + id;
    const current = await this.states.current(key);
    if (!current || current.info.sidecar.id !== id) return undefined;
    const { sidecar } = current.info;
    const finalPath = sidecar.tusport.final_path;
    const location = typeof finalPath === 'string' ? prefix + finalPath : key;
    if (sidecar.tusport.completed_at !== undefined) return { sidecar, offset: sidecar.size ?? 0, location };
    return { sidecar, offset: offsetAfter(current.progress, sidecar.size), location };
  }

  async write(prefix: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    if (limits.verify) return this.writeVerified(prefix + id, source, offset, limits, limits.verify, stop);
    // The part writer reads a stream that ends where the client stopped (or at the limit), so
    // whatever arrived is stored: whole parts as parts, a short tail as `<key>.part`.
    const body = new PassThrough({ highWaterMark: PIPE_BUFFER_BYTES });
    const copying = copyWithLimit(source, body, limits.limit, stop);
    copying.catch(() => undefined);
    let written: number;
    try {
      written = await this.fences.during(prefix + id, limits.fence, () => this.append(prefix + id, body, limits.fence));
    } catch (error) {
      body.destroy(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    const outcome = await copying;
    if (outcome.kind === 'interrupted') return { kind: 'interrupted', offset: written, reason: outcome.reason };
    return { kind: outcome.kind, offset: written };
  }

  /**
   * A verified write: S3 parts cannot be taken back, so the body is staged and verified before the
   * part writer sees a byte. A refused or cut-short body leaves S3 exactly as it was.
   */
  private async writeVerified(key: string, source: Readable, offset: number, limits: WriteLimits, verify: ChunkVerifier, stop?: AbortSignal): Promise<WriteResult> {
    const staged = await stageBody(source, limits.limit, verify, stop);
    try {
      if (!staged.verified) return unverified(staged.outcome, offset);
      return { kind: 'complete', offset: await this.fences.during(key, limits.fence, () => this.append(key, staged.open(), limits.fence)) };
    } finally {
      await staged.discard();
    }
  }

  /** Append a body to the upload at `key` (the caller checked the offset under the upload's lock). */
  private async append(key: string, body: Readable, fence?: WriteFence): Promise<number> {
    const outcome = await this.states.write(key, fence, (info, state, parts) =>
      this.writer.write(body, { key, multipartId: info.multipartId, size: info.sidecar.size }, state, parts),
    );
    return offsetOf(outcome.state);
  }

  /** Complete the multipart upload if bytes alone did not (zero-byte uploads, a length declared at the end). */
  async seal(prefix: string, stored: StoredUpload): Promise<void> {
    const key = prefix + stored.sidecar.id;
    if (await objectExists(this.client, this.bucket, key)) return;
    await this.append(key, Readable.from([]));
  }

  /** Server-side: UploadPartCopy from the parts' objects into the target's multipart upload (see concat.ts). */
  async concatenate(prefix: string, target: StoredUpload, parts: readonly StoredUpload[]): Promise<void> {
    const key = prefix + target.sidecar.id;
    const info = await readInfo(this.client, this.bucket, key);
    if (!info?.multipartId) throw new Error(`S3 upload ${key} has no multipart upload to concatenate into`);
    const sources = parts.map((part) => ({ key: part.location, size: part.offset }));
    const multipartId = info.multipartId;
    await this.states.changing(key, () =>
      concatenateObjects(this.client, this.bucket, key, multipartId, sources, {
        minPartSize: this.config.minPartSize,
        partSize: this.config.partSize,
        concurrency: this.config.maxConcurrentPartUploads,
      }),
    );
  }

  async truncate(): Promise<void> {
    throw new Error('S3 uploads cannot be truncated: PATCH bodies to S3 stores must declare Content-Length');
  }

  async updateSidecar(prefix: string, sidecar: Sidecar): Promise<void> {
    await this.states.updateSidecar(prefix + sidecar.id, sidecar);
  }

  async open(stored: StoredUpload, range?: ByteRange): Promise<Readable> {
    // A slice is asked of S3 as a slice: serving 1 KiB of a 5 GiB object never fetches the rest.
    const response = await this.client.getObject({ Bucket: this.bucket, Key: stored.location, ...(range ? { Range: `bytes=${range.start}-${range.end}` } : {}) });
    if (!(response.Body instanceof Readable)) throw new Error(`S3 returned no body for ${stored.location}`);
    return response.Body;
  }

  /** A presigned GetObject URL; S3 answers it with our Content-Type and Content-Disposition. */
  async presignGet(stored: StoredUpload, options: PresignOptions): Promise<string> {
    const { getSignedUrl } = await import('@aws-sdk/s3-request-presigner');
    const { GetObjectCommand } = await import('@aws-sdk/client-s3');
    const command = new GetObjectCommand({
      Bucket: this.bucket,
      Key: stored.location,
      ResponseContentType: options.contentType,
      ResponseContentDisposition: options.contentDisposition,
    });
    return getSignedUrl(this.client, command, { expiresIn: options.expiresIn });
  }

  async remove(prefix: string, stored: StoredUpload): Promise<void> {
    const key = prefix + stored.sidecar.id;
    await this.states.removing(key, () => this.removeObjects(key, stored));
  }

  private async removeObjects(key: string, stored: StoredUpload): Promise<void> {
    const info = await readInfo(this.client, this.bucket, key);
    // Objects first (`<key>.part` too, which @tus/s3-store's own remove() leaves behind, and a
    // direct upload's presigned-POST staging key `<key>.post`), then the
    // sidecar, and the multipart upload last: the sweep finds unfinished uploads by their open
    // multipart uploads, so whatever step an interrupted removal (a SIGKILLed instance) stopped at,
    // the next sweep still sees it: with its sidecar it is removed again, without one it is aborted
    // as a leftover. Aborted first, a removal stopped before the sidecar went left a sidecar nothing
    // would ever find.
    const objects = new Set([key, partKey(key), postKey(key), stored.location]);
    await this.client.deleteObjects({ Bucket: this.bucket, Delete: { Objects: [...objects].map((Key) => ({ Key })), Quiet: true } });
    await this.client.deleteObject({ Bucket: this.bucket, Key: infoKey(key) });
    if (info?.multipartId) {
      await this.client.abortMultipartUpload({ Bucket: this.bucket, Key: key, UploadId: info.multipartId }).catch((error: unknown) => {
        if (!isNoSuchUpload(error)) throw error;
      });
    }
  }

  async finalize(prefix: string, stored: StoredUpload, relativePath: string, overwrite: OverwriteMode): Promise<string> {
    const key = prefix + stored.sidecar.id;
    if (stored.sidecar.tusport.final_path !== undefined) {
      // An earlier attempt copied and recorded the move, then failed before deleting the original.
      if (stored.location !== key) await this.client.deleteObject({ Bucket: this.bucket, Key: key });
      return stored.location;
    }
    const target = await copyToFinalKey(this.client, this.bucket, stored.location, prefix + relativePath, stored.offset, overwrite);
    // Record the move before deleting the original: a crash in between leaves two copies, never none.
    stored.sidecar.tusport.final_path = target.slice(prefix.length);
    await this.updateSidecar(prefix, stored.sidecar);
    if (target !== key) await this.client.deleteObject({ Bucket: this.bucket, Key: key });
    return target;
  }

  finalPathTaken(prefix: string, relativePath: string): Promise<boolean> {
    return objectExists(this.client, this.bucket, prefix + relativePath);
  }

  async *listIds(prefix: string, after: string | undefined): AsyncIterable<string> {
    // Keys list in ascending order, 1,000 a call; `/` keeps finalized files in sub-folders out of it.
    let token: string | undefined;
    do {
      const page = await this.client.listObjectsV2({
        Bucket: this.bucket,
        Prefix: prefix,
        Delimiter: '/',
        ...(token ? { ContinuationToken: token } : after !== undefined ? { StartAfter: infoKey(prefix + after) } : {}),
      });
      for (const object of page.Contents ?? []) {
        const name = object.Key?.slice(prefix.length) ?? '';
        if (name.endsWith('.info') && SAFE_ID.test(name.slice(0, -5))) yield name.slice(0, -5);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async *finishedBefore(before: number): AsyncIterable<{ place: string; sidecar: Sidecar }> {
    let token: string | undefined;
    do {
      const page = await this.client.listObjectsV2({ Bucket: this.bucket, Prefix: this.prefixRoot(), ContinuationToken: token });
      for (const object of page.Contents ?? []) {
        if (!object.Key?.endsWith('.info') || (object.LastModified?.getTime() ?? Infinity) >= before) continue;
        const key = object.Key.slice(0, -'.info'.length);
        const info = await readInfo(this.client, this.bucket, key);
        if (!info || info.sidecar.tusport.completed_at === undefined || !key.endsWith(info.sidecar.id)) continue;
        yield { place: key.slice(0, key.length - info.sidecar.id.length), sidecar: info.sidecar };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async *unfinished(): AsyncIterable<UnfinishedUpload> {
    // Sidecars read SIDECARS_AT_ONCE at a time: one after the other, the quota rebuild of a bucket
    // with 2,000 open uploads took 105 s on a slow RGW, and the request waiting for it timed out.
    const open = listOpenUploads(this.client, this.bucket, this.prefixRoot());
    for await (const found of mapInBatches(open, SIDECARS_AT_ONCE, (upload) => this.unfinishedUpload(upload))) {
      if (found) yield found;
    }
  }

  private async unfinishedUpload(upload: OpenUpload): Promise<UnfinishedUpload | undefined> {
    const info = await readInfo(this.client, this.bucket, upload.key);
    if (!info || info.sidecar.tusport.completed_at !== undefined) return undefined;
    // Quotas count declared sizes; only a deferred length needs the bytes so far.
    const offset = info.sidecar.size === undefined ? offsetAfter(await this.states.progressInS3(upload.key, info.multipartId), undefined) : 0;
    return { sidecar: info.sidecar, offset };
  }

  sweep(options: SweepOptions): Promise<SweepResult> {
    return sweepBucket(this, this.prefixRoot(), options);
  }

  /** The fixed part of the prefix template: every place of this store starts with it. */
  prefixRoot(): string {
    const brace = this.config.prefix.indexOf('{');
    return brace === -1 ? this.config.prefix : this.config.prefix.slice(0, brace);
  }

  describe(prefix: string, stored: StoredUpload): Record<string, string> {
    return { Type: 's3store', Bucket: this.bucket, Key: stored.location, InfoKey: infoKey(prefix + stored.sidecar.id) };
  }

  /** The bucket answers and the credentials work: `tusport serve` refuses to start otherwise. */
  async check(): Promise<void> {
    await sweepDeadScratch();
    try {
      await this.client.headBucket({ Bucket: this.bucket });
    } catch (error) {
      const cause = describeS3Error(error) ?? (error instanceof Error ? error.message : String(error));
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      const hint = status === 404 ? ' (the bucket does not exist)' : status === 403 ? ' (wrong credentials or no access to the bucket)' : '';
      throw new S3StoreUnavailable(`S3 bucket ${JSON.stringify(this.bucket)}${this.config.endpoint ? ` at ${this.config.endpoint}` : ''} is not usable: ${cause}${hint}`);
    }
  }
}
