import type { S3 } from '@aws-sdk/client-s3';
import { StreamSplitter } from '@tus/server';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { withScratch } from '../scratch.js';
import { isS3NotFound } from './errors.js';
import { partKey } from './info.js';
import type { S3StoreConfig } from './schema.js';
import { Slots } from './slots.js';
import { offsetOf, TAIL_START_METADATA, type PartRecord, type UploadState } from './upload-state.js';

const MAX_PARTS = 10_000;

/**
 * @tus/server's StreamSplitter, telling when its last `_write` has settled: after the pipeline
 * fails, a `_write` already running goes on and may finish one chunk file and open the next.
 */
class SettledSplitter extends StreamSplitter {
  private writing: Promise<void> = Promise.resolve();

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (error: Error | null) => void): Promise<void> {
    const running = super._write(chunk, encoding, callback);
    this.writing = running.catch(() => undefined);
    return running;
  }

  settled(): Promise<void> {
    return this.writing;
  }
}
const MAX_UPLOAD_SIZE = 5 * 1024 ** 4;

/** Where the bytes go: the multipart upload at `key` and its declared size (if known yet). */
export interface WriteTarget {
  key: string;
  multipartId: string | undefined;
  size: number | undefined;
}

export interface WriteOutcome {
  /** What S3 holds after this write (the parts list only when the caller passed it in). */
  state: UploadState;
  /** Parts committed by this write, in order. */
  committed: PartRecord[];
  /** The multipart upload was completed (the object exists). */
  completed: boolean;
}

/** The tail changed under us: whoever gave us the state had an old one. */
export class StaleUploadState extends Error {
  override name = 'StaleUploadState';
}

/**
 * Appends a body to an S3 multipart upload in the layout of @tus/s3-store (parts of `partSize`,
 * a tail smaller than `minPartSize` kept as `<key>.part`, completion at the last byte), ordered so
 * that no acknowledged byte is ever only in this process:
 *
 *  1. the old tail is read, never deleted first: it is the head of this write's first part;
 *  2. parts are committed one after the other, in order (part n+1 only once part n is), so the
 *     committed parts are always a prefix of what was sent, never a part after a gap;
 *  3. a new tail replaces the old one in one PUT (S3 replaces objects atomically), recording the
 *     offset its bytes start at;
 *  4. only when a part holding the old tail's bytes is committed and no new tail replaced it is
 *     the old tail deleted; a crash before that leaves a stale tail the readers recognise (its
 *     start is below the committed parts' end) and ignore.
 *
 * At every instant `parts + valid tail` is at least every offset acknowledged so far and counts
 * no byte twice. @tus/s3-store deleted the tail before uploading the part holding its bytes, so a
 * crash or an S3 error in between lost acknowledged bytes.
 */
export class PartWriter {
  private readonly slots: Slots;

  constructor(
    private readonly client: S3,
    private readonly config: S3StoreConfig,
  ) {
    this.slots = new Slots(config.maxConcurrentPartUploads);
  }

  private get bucket(): string {
    return this.config.bucket;
  }

  async write(source: Readable, target: WriteTarget, before: UploadState, loadParts: () => Promise<PartRecord[]>): Promise<WriteOutcome> {
    const state: UploadState = { ...before, parts: before.parts ? [...before.parts] : undefined };
    const oldTail = before.tail;
    if (before.staleTail && !oldTail) {
      // Debris of a writer that died after committing the part; harmless, and a new tail replaces it anyway.
      await this.deleteTail(target.key).catch(() => undefined);
      state.staleTail = false;
    }
    const committed: PartRecord[] = [];
    // The chunk files live in a directory of this write, removed whole when it ends (scratch.ts).
    const wroteTail = await withScratch('parts', (directory) => this.split(source, target, state, committed, directory));
    if (!wroteTail && state.staleTail) {
      // Safe now: the part holding its bytes is committed. Failing here only leaves a stale tail.
      await this.deleteTail(target.key).then(
        () => (state.staleTail = false),
        () => undefined,
      );
    }
    const completed = target.size !== undefined && offsetOf(state) === target.size;
    if (completed) await this.complete(target, state, committed, loadParts);
    return { state, committed, completed };
  }

  /**
   * Split the body (the old tail first) into chunk files in `directory` and commit them in order.
   * Returns once nothing reads or writes a chunk file any more, whether it succeeded or not: the
   * caller then removes the directory. Whether a new tail was written.
   */
  private async split(source: Readable, target: WriteTarget, state: UploadState, committed: PartRecord[], directory: string): Promise<boolean> {
    let cursor = state.partBytes;
    let wroteTail = false;
    // Set on the first failure: a chunk the splitter finishes after it is never sent to S3 (the
    // write is over for the caller, who may have released the upload's lock by then).
    let failed = false;
    let chain: Promise<void> = Promise.resolve();
    const splitter = new SettledSplitter({ chunkSize: this.chunkSize(target.size), directory });
    splitter.on('chunkFinished', async ({ path, size }: { path: string; size: number }) => {
      const start = cursor;
      cursor += size;
      const isFinal = target.size === cursor;
      const previous = chain;
      chain = previous.then(async () => {
        if (failed) throw new Error('the write already failed');
        try {
          if (size >= this.config.minPartSize || isFinal) {
            const part = await this.uploadPart(target, path, state.partCount + 1, size);
            committed.push(part);
            state.parts?.push(part);
            state.partCount += 1;
            state.partBytes += size;
            // The old tail's bytes are now in a part: from here on it is stale until deleted or replaced.
            if (state.tail && state.tail.start < state.partBytes) {
              state.tail = undefined;
              state.staleTail = true;
            }
          } else {
            await this.putTail(target.key, path, start);
            state.tail = { size, start };
            state.staleTail = false;
            wroteTail = true;
          }
        } catch (error) {
          failed = true;
          throw error;
        } finally {
          // Free the disk as soon as S3 has the bytes; the directory goes at the end anyway.
          await rm(path, { force: true });
        }
      });
      chain.catch(() => undefined);
      // One part uploads while the next one is buffered to disk: no more, so a slow S3 slows the client.
      await previous;
    });
    try {
      await pipeline(this.withTail(target.key, state.tail, source), splitter);
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      // The splitter's write in progress when the pipeline failed may still open a chunk file.
      await splitter.settled();
      await chain.catch(() => undefined);
    }
    await chain;
    return wroteTail;
  }

  /** The body to split: the old tail's bytes first (checked against the state), then the request's. */
  private withTail(key: string, tail: UploadState['tail'], source: Readable): Readable {
    if (!tail) return source;
    const { client, bucket } = this;
    return Readable.from(
      (async function* () {
        let response;
        try {
          response = await client.getObject({ Bucket: bucket, Key: partKey(key) });
        } catch (error) {
          if (isS3NotFound(error)) throw new StaleUploadState(`${partKey(key)} is gone`);
          throw error;
        }
        const recorded = response.Metadata?.[TAIL_START_METADATA];
        if (response.ContentLength !== tail.size || (recorded !== undefined && Number(recorded) !== tail.start)) {
          throw new StaleUploadState(`${partKey(key)} is not the tail this write expected`);
        }
        let read = 0;
        for await (const chunk of response.Body as Readable) {
          read += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (read !== tail.size) throw new StaleUploadState(`${partKey(key)} ended after ${read} of ${tail.size} bytes`);
        yield* source;
      })(),
      { objectMode: false },
    );
  }

  private async uploadPart(target: WriteTarget, path: string, partNumber: number, size: number): Promise<PartRecord> {
    const release = await this.slots.acquire();
    try {
      const response = await this.client.uploadPart({
        Bucket: this.bucket,
        Key: target.key,
        UploadId: target.multipartId,
        PartNumber: partNumber,
        Body: createReadStream(path),
        ContentLength: size,
      });
      if (!response.ETag) throw new Error(`S3 returned no ETag for part ${partNumber} of ${target.key}`);
      return { PartNumber: partNumber, ETag: response.ETag, Size: size };
    } finally {
      release();
    }
  }

  private async putTail(key: string, path: string, start: number): Promise<void> {
    await this.client.putObject({
      Bucket: this.bucket,
      Key: partKey(key),
      Body: createReadStream(path),
      Metadata: { [TAIL_START_METADATA]: String(start) },
    });
  }

  private async deleteTail(key: string): Promise<void> {
    await this.client.deleteObject({ Bucket: this.bucket, Key: partKey(key) });
  }

  private async complete(target: WriteTarget, state: UploadState, committed: PartRecord[], loadParts: () => Promise<PartRecord[]>): Promise<void> {
    let parts = state.parts ?? [...(await loadParts()), ...committed];
    if (parts.length === 0) {
      // S3 needs one part to complete; an empty last part is allowed (zero-byte uploads).
      const empty = await this.client.uploadPart({ Bucket: this.bucket, Key: target.key, UploadId: target.multipartId, PartNumber: 1, Body: Buffer.alloc(0) });
      parts = [{ PartNumber: 1, ETag: empty.ETag ?? '', Size: 0 }];
    }
    await this.client.completeMultipartUpload({
      Bucket: this.bucket,
      Key: target.key,
      UploadId: target.multipartId,
      MultipartUpload: { Parts: parts.map(({ PartNumber, ETag }) => ({ PartNumber, ETag })) },
    });
    // A tail left by an earlier crash is all that can remain; remove() also deletes it.
    if (state.staleTail) await this.deleteTail(target.key).catch(() => undefined);
  }

  /** @tus/s3-store's choice: partSize, larger when the upload would not fit in 10,000 parts. */
  private chunkSize(size: number | undefined): number {
    const total = size ?? MAX_UPLOAD_SIZE;
    const preferred = this.config.partSize;
    const optimal = total <= preferred ? total : total <= preferred * MAX_PARTS ? preferred : Math.ceil(total / MAX_PARTS);
    return Math.max(optimal, this.config.minPartSize);
  }
}
