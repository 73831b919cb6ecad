import type { S3 } from '@aws-sdk/client-s3';
import { fenced, type WriteFence } from '../../coordination/fence.js';
import type { Sidecar } from '../sidecar.js';
import { isNoSuchUpload } from './errors.js';
import { objectExists } from './finalize.js';
import { readInfo, writeInfo, type S3Info } from './info.js';
import { StaleUploadState, type WriteOutcome } from './part-writer.js';
import type { S3StateCache } from './state-cache.js';
import { headTail, judgeTail, offsetOf, readUploadState, type PartRecord, type UploadState } from './upload-state.js';

/** What became of an upload's bytes: its state, or its multipart upload completed or gone. */
export type Progress = UploadState | 'completed' | 'gone';

export interface Current {
  info: S3Info;
  progress: Progress;
}

/**
 * An S3 upload's sidecar and state, from S3 or, with Redis, from the write-through cache
 * (state-cache.ts). Everything that changes an upload in S3 goes through here, so the cache is
 * updated with it. Without a cache, each read asks S3, as before.
 */
export class UploadStates {
  constructor(
    private readonly client: S3,
    private readonly bucket: string,
    private readonly cache: S3StateCache | undefined,
  ) {}

  /** The sidecar only (the cache's, or `<key>.info`). */
  async info(key: string): Promise<S3Info | undefined> {
    const read = await this.cache?.read(key);
    if (read?.kind === 'hit') return { sidecar: read.entry.sidecar, multipartId: read.entry.multipartId };
    return readInfo(this.client, this.bucket, key);
  }

  /** Sidecar and state; a cache miss is rebuilt from S3 and stored. */
  async current(key: string): Promise<Current | undefined> {
    const read = await this.cache?.read(key);
    if (read?.kind === 'hit') {
      const { sidecar, multipartId, state } = read.entry;
      return { info: { sidecar, multipartId }, progress: state.completed ? 'completed' : state };
    }
    const info = await readInfo(this.client, this.bucket, key);
    if (!info) return undefined;
    // A finished upload's sidecar says all there is: no multipart upload left to list.
    const progress = info.sidecar.tusport.completed_at !== undefined ? 'completed' : await this.progressInS3(key, info.multipartId);
    if (this.cache && read && progress !== 'gone') {
      const state = progress === 'completed' ? { ...EMPTY, completed: true } : withoutParts(progress);
      const parts = progress === 'completed' ? [] : (progress.parts ?? []);
      await this.cache.store(key, read.gen, { ...info, state }, parts);
    }
    return { info, progress };
  }

  /** Always from S3 (the sweep and quota rebuilds list uploads there anyway). */
  async progressInS3(key: string, multipartId: string | undefined): Promise<Progress> {
    try {
      return await readUploadState(this.client, this.bucket, key, multipartId);
    } catch (error) {
      // Completed (the last PATCH finished it before the sidecar said so) or aborted.
      if (isNoSuchUpload(error)) return (await objectExists(this.client, this.bucket, key)) ? 'completed' : 'gone';
      throw error;
    }
  }

  /**
   * Run a write of bytes: `run` gets the sidecar and state; the cache is dirty while it runs and
   * holds its result before this returns (so before the client's 204). A failed write leaves the
   * entry dirty: the next read rebuilds it from S3.
   */
  write(
    key: string,
    fence: WriteFence | undefined,
    run: (info: S3Info, state: UploadState, parts: () => Promise<PartRecord[]>) => Promise<WriteOutcome>,
  ): Promise<WriteOutcome> {
    // The lock first: a holder whose lease lapsed gets 423, not what it trips on in S3 (the
    // upload the next holder completed: "the multipart upload is completed").
    return fenced(fence, () => this.writeHeld(key, fence, run));
  }

  private async writeHeld(
    key: string,
    fence: WriteFence | undefined,
    run: (info: S3Info, state: UploadState, parts: () => Promise<PartRecord[]>) => Promise<WriteOutcome>,
  ): Promise<WriteOutcome> {
    const current = await this.current(key);
    if (!current) throw new Error(`${key}.info is gone`);
    const { info } = current;
    let progress = current.progress;
    if (typeof progress === 'string') throw new Error(`the multipart upload of ${key} is ${progress}`);
    const cache = this.cache;
    if (!cache) return run(info, progress, async () => (progress as UploadState).parts ?? []);
    const gen = await cache.begin(key);
    if (!progress.parts) progress = await this.verified(key, info.multipartId, progress);
    let outcome: WriteOutcome;
    try {
      outcome = await run(info, progress, () => cache.parts(key));
    } catch (error) {
      if (error instanceof StaleUploadState) await cache.drop(key).catch(() => undefined);
      throw error;
    }
    fence?.assertHeld();
    const state = { ...withoutParts(outcome.state), ...(outcome.completed ? { completed: true } : {}) };
    // Not current any more (someone began after us: only a lock lost while writing does that): in doubt, drop it.
    if (!(await cache.commit(key, gen, { partsBefore: progress.partCount, parts: outcome.committed, state }))) await cache.drop(key);
    return outcome;
  }

  /**
   * A cached state checked against S3 before bytes go out, at a cost that does not grow with the
   * parts (one ListParts after the last cached part, one HEAD of the tail): a Redis that lost
   * acknowledged writes (restored from an old snapshot, failed over) must not make a write
   * overwrite a committed part. When S3 holds more, the write is refused (the entry now rebuilt
   * from S3, so the client's next HEAD reads the true offset).
   */
  private async verified(key: string, multipartId: string | undefined, cached: UploadState): Promise<UploadState> {
    const later = await this.client.listParts({ Bucket: this.bucket, Key: key, UploadId: multipartId, PartNumberMarker: String(cached.partCount), MaxParts: 1 });
    const tail = judgeTail(await headTail(this.client, this.bucket, key), cached.partBytes);
    const same = (later.Parts ?? []).length === 0 && tail.staleTail === cached.staleTail && tail.tail?.size === cached.tail?.size && tail.tail?.start === cached.tail?.start;
    if (same) return cached;
    const fresh = await readUploadState(this.client, this.bucket, key, multipartId);
    if (offsetOf(fresh) !== offsetOf(cached)) {
      await this.cache?.drop(key);
      throw new StaleUploadState(`the cached state of ${key} is behind S3 (${offsetOf(cached)} < ${offsetOf(fresh)} bytes)`);
    }
    return fresh;
  }

  /** A new upload: its sidecar and an empty state. */
  async created(key: string, sidecar: Sidecar, multipartId: string | undefined): Promise<void> {
    await writeInfo(this.client, this.bucket, key, sidecar, multipartId);
    await this.cache?.store(key, '', { sidecar, multipartId, state: EMPTY }, []);
  }

  /** Rewrite `<key>.info` (keeping the multipart id it carries) and the cached sidecar with it. */
  async updateSidecar(key: string, sidecar: Sidecar): Promise<void> {
    const read = await this.cache?.read(key);
    const gen = await this.cache?.begin(key);
    const multipartId = read?.kind === 'hit' ? read.entry.multipartId : (await readInfo(this.client, this.bucket, key))?.multipartId;
    await writeInfo(this.client, this.bucket, key, sidecar, multipartId);
    // A clean entry gets the new sidecar; one that was already in doubt stays dirty (rebuilt on the next read).
    if (this.cache && gen !== undefined && read?.kind === 'hit' && !(await this.cache.commit(key, gen, { sidecar }))) await this.cache.drop(key);
  }

  /**
   * Around a change made in S3 by other means than `write` (concatenation's server-side copies):
   * the entry is dirty from before it starts, so the next read rebuilds it from S3.
   */
  async changing<T>(key: string, change: () => Promise<T>): Promise<T> {
    await this.cache?.begin(key);
    return change();
  }

  /** Around a removal: the entry is dirty while S3 objects go, then deleted. */
  async removing<T>(key: string, remove: () => Promise<T>): Promise<T> {
    await this.cache?.begin(key);
    const result = await remove();
    await this.cache?.drop(key);
    return result;
  }
}

const EMPTY: Omit<UploadState, 'parts'> = { partCount: 0, partBytes: 0, tail: undefined, staleTail: false };

function withoutParts(state: UploadState): Omit<UploadState, 'parts'> {
  const { parts: _parts, ...rest } = state;
  return rest;
}
