import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { directoryRoot, resolveDirectory, type TemplateParams } from '../endpoints/template.js';
import type { ByteRange, StorageBackend, StoredUpload, SweepOptions, SweepResult, UnfinishedUpload, WriteLimits, WriteResult } from './backend.js';
import { confinedDirectory } from './confine.js';
import { isFinalizedFile, NO_FOLLOW, readSidecar, STREAM_FLAGS, type Sidecar, sidecarPath, syncDirectory, writeNewSidecar, writeSidecar } from './sidecar.js';
import { StoreErrors } from './store-errors.js';
import { finalizeOnDisk, finalPathTaken, type OverwriteMode, resolveFinalPath } from './finalize.js';
import { concatenateFiles } from './concat-files.js';
import { LazyFileSink } from './lazy-file-sink.js';
import type { OnSync, SyncMode } from './durability.js';
import { copyWithLimit } from './stream-copy.js';
import { unverified } from './verified-write.js';
import { checkWritableDirectory } from './writable-directory.js';
import { fenced } from '../coordination/fence.js';
import { sweepDirectory } from './sweep.js';
import { isFinished, walkUploads } from './walk.js';
import { sortedIds } from './list-ids.js';

/** Upload ids are checked before they reach a store; this is the last line of defence. */
const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Bytes a PATCH may buffer between socket and disk (the write stream's highWaterMark). A lone
 * upload gets 1 MiB: fewer, bigger writes, and the socket keeps flowing while one is under way
 * (with 64 KiB a 1 GiB upload in 8 MiB chunks took ~1.4× as long here). Uploads at once share
 * WRITE_BUFFER_BUDGET, down to 16 KiB each (one socket chunk at a time, as a plain pipe does):
 * with 1 MiB each, 200 concurrent uploads held up to 400 MiB of socket chunks in their write
 * streams whenever the disk was the bottleneck. (A stream holds up to about twice its
 * highWaterMark: what it buffers plus the write under way.)
 */
const WRITE_BUFFER_MAX = 1024 * 1024;
const WRITE_BUFFER_MIN = 16 * 1024;
const WRITE_BUFFER_BUDGET = 8 * 1024 * 1024;
let writesInProgress = 0;

function writeBufferBytes(): number {
  return Math.max(WRITE_BUFFER_MIN, Math.min(WRITE_BUFFER_MAX, Math.floor(WRITE_BUFFER_BUDGET / Math.max(1, writesInProgress))));
}

/**
 * Uploads as files: `<directory>/<id>` holds the bytes received (its size is the offset) and
 * `<directory>/<id>.json` the sidecar.
 *
 * Written here rather than by @tus/file-store's FileStore, which binds one store to one fixed
 * directory, creates the data file before its sidecar (a crash in between leaves an orphan),
 * never fsyncs (acknowledged bytes could vanish in a power loss), pushes every chunk through
 * an extra Transform, and throws from an unawaited mkdir in its constructor.
 */
export class DiskBackend implements StorageBackend {
  readonly kind = 'disk';
  readonly canTruncate = true;

  /** The store root: the template's fixed part. Nothing below it may resolve outside it. */
  private readonly root: string;

  /**
   * @param directory the endpoint's store directory template (`./data/{username}`).
   * @param durability `sync`: whether each PATCH's bytes are fsynced before its 204 (`request`) or
   *   not (`none`); `onSync` hears each such fsync's duration (metrics).
   */
  /** The store directory when the template has no `{param}`: rendered once, not per request. */
  private readonly fixedPlace: string | undefined;

  constructor(
    private readonly directory: string,
    private readonly durability: { sync: SyncMode; onSync?: OnSync | undefined } = { sync: 'request' },
  ) {
    this.root = directoryRoot(directory);
    this.fixedPlace = directory.includes('{') ? undefined : resolveDirectory(directory, {});
  }

  place(params: TemplateParams): string {
    return this.fixedPlace ?? resolveDirectory(this.directory, params);
  }

  /** The store's fixed root (above any `{param}`) is, or can become, a writable directory. */
  check(): Promise<void> {
    return checkWritableDirectory(directoryRoot(this.directory));
  }

  dataPath(directory: string, id: string): string {
    if (!SAFE_ID.test(id)) throw new Error(`unsafe upload id ${JSON.stringify(id)}`);
    return path.join(directory, id);
  }

  /**
   * An upload's data path with its directory proven to be inside the store root (no symlink
   * leads out of it); undefined when the directory does not exist. `create` makes it.
   */
  private async confinedDataPath(directory: string, id: string, create = false): Promise<string | undefined> {
    const real = await this.confined(directory, create);
    return real === undefined ? undefined : this.dataPath(real, id);
  }

  /** `directory`'s real path, proven inside the store root (503 `TUSPORT_ERR_OUTSIDE_STORE` otherwise). */
  private confined(directory: string, create: boolean): Promise<string | undefined> {
    return confinedDirectory(this.root, directory, create, (segment, why) => new StoreErrors.OUTSIDE_STORE(JSON.stringify(path.basename(segment)), why));
  }

  private async requireDataPath(directory: string, id: string): Promise<string> {
    const data = await this.confinedDataPath(directory, id);
    if (data === undefined) throw Object.assign(new Error(`store directory ${directory} is gone`), { code: 'ENOENT', syscall: 'open' });
    return data;
  }

  async create(directory: string, sidecar: Sidecar): Promise<StoredUpload> {
    // Made segment by segment inside the real store root: a symlink in the store never leads
    // the new upload's files outside it. The data file itself is created with O_EXCL, which
    // refuses a symlink in its place.
    const data = (await this.confinedDataPath(directory, sidecar.id, true))!;
    directory = path.dirname(data);
    // Sidecar first: a crash before the data file exists leaves a sidecar that HEAD answers with
    // 410 and the cleanup sweep removes, never anonymous bytes nobody can account for. An id that
    // is taken (a hook may choose ids) is refused without touching the existing upload.
    if (!(await writeNewSidecar(sidecarPath(data), sidecar))) throw Object.assign(new Error(`upload id ${sidecar.id} is taken`), { code: 'EEXIST' });
    const handle = await fs.open(data, 'wx', 0o640);
    await handle.close();
    await syncDirectory(directory);
    return { sidecar, offset: 0, location: data };
  }

  async getSidecar(directory: string, id: string): Promise<Sidecar | undefined> {
    const data = await this.confinedDataPath(directory, id);
    if (data === undefined) return undefined;
    const sidecar = await readSidecar(sidecarPath(data));
    return sidecar?.id === id && !(await isFinalizedFile(sidecarPath(data))) ? sidecar : undefined;
  }

  async get(directory: string, id: string): Promise<StoredUpload | undefined> {
    const data = await this.confinedDataPath(directory, id);
    if (data === undefined) return undefined;
    directory = path.dirname(data);
    const sidecar = await readSidecar(sidecarPath(data));
    if (!sidecar || sidecar.id !== id || (await isFinalizedFile(sidecarPath(data)))) return undefined;
    // A finalized upload's bytes live at its final path (checked to be inside the store and,
    // by the sidecar beside it, still this upload's file).
    const location = sidecar.tusport.final_path ? await resolveFinalPath(directory, sidecar.tusport.final_path, id) : data;
    if (!location) return undefined;
    let stats;
    try {
      // lstat: a symlink where the data should be is not this upload's bytes.
      stats = await fs.lstat(location);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (!stats.isFile()) return undefined;
    return { sidecar, offset: stats.size, location };
  }

  write(directory: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    // A holder whose lease lapsed gets 423, not what it trips on (the file the next holder moved).
    return fenced(limits.fence, () => this.writeHeld(directory, id, source, offset, limits, stop));
  }

  private async writeHeld(directory: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    const data = await this.requireDataPath(directory, id);
    const verify = limits.verify;
    writesInProgress++;
    let outcome;
    try {
      // The sink fsyncs before it closes (with `sync: request`): the 204 that acknowledges these
      // bytes is sent only after. It holds a file descriptor only while bytes flow (a stalled
      // client holds none).
      const sink = new LazyFileSink(data, offset, {
        highWaterMark: writeBufferBytes(),
        fence: limits.fence,
        sync: this.durability.sync === 'request',
        onSync: this.durability.onSync,
      });
      outcome = await copyWithLimit(source, sink, limits.limit, stop, verify && ((chunk) => verify.update(chunk)));
    } catch (error) {
      // A verified write's bytes never count unverified, not even those a failing disk took.
      if (verify) await this.truncate(directory, id, offset).catch(() => undefined);
      throw error;
    } finally {
      writesInProgress--;
    }
    if (verify && !(outcome.kind === 'complete' && verify.matches())) {
      // Hashed on the way to the file; cut back (and fsynced) before anyone is answered.
      await this.truncate(directory, id, offset);
      return unverified(outcome, offset);
    }
    const written = offset + outcome.bytes;
    if (outcome.kind === 'interrupted') return { kind: 'interrupted', offset: written, reason: outcome.reason };
    return { kind: outcome.kind, offset: written };
  }

  async concatenate(directory: string, target: StoredUpload, parts: readonly StoredUpload[]): Promise<void> {
    // Partial uploads are never finalized: their bytes are at their own data paths.
    await concatenateFiles(await this.requireDataPath(directory, target.sidecar.id), parts.map((part) => part.location));
  }

  async truncate(directory: string, id: string, offset: number): Promise<void> {
    const handle = await fs.open(await this.requireDataPath(directory, id), fs.constants.O_RDWR | NO_FOLLOW);
    try {
      await handle.truncate(offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async updateSidecar(directory: string, sidecar: Sidecar): Promise<void> {
    await writeSidecar(sidecarPath(await this.requireDataPath(directory, sidecar.id)), sidecar);
  }

  async open(stored: StoredUpload, range?: ByteRange): Promise<Readable> {
    return createReadStream(stored.location, { flags: STREAM_FLAGS.read, ...(range ? { start: range.start, end: range.end } : {}) });
  }

  async finalize(directory: string, stored: StoredUpload, relativePath: string, overwrite: OverwriteMode): Promise<string> {
    const data = await this.requireDataPath(directory, stored.sidecar.id);
    if (stored.sidecar.tusport.final_path !== undefined) {
      // An earlier attempt moved the file and recorded it, then failed before dropping the upload's
      // own name for it: drop that name (only while it still is the same file), nothing more.
      const [atData, atFinal] = await Promise.all([fs.lstat(data).catch(() => undefined), fs.lstat(stored.location)]);
      if (atData && atData.ino === atFinal.ino && atData.dev === atFinal.dev && stored.location !== data) await fs.unlink(data);
      return stored.location;
    }
    const finalized = await finalizeOnDisk({ root: path.dirname(data), dataPath: stored.location, sidecar: stored.sidecar, relativePath, overwrite });
    stored.sidecar.tusport.final_path = finalized.relativePath;
    return finalized.finalPath;
  }

  async finalPathTaken(directory: string, relativePath: string): Promise<boolean> {
    const real = await this.confined(directory, false);
    return real !== undefined && finalPathTaken(real, relativePath);
  }

  async *listIds(directory: string, after: string | undefined): AsyncIterable<string> {
    const real = await this.confined(directory, false);
    if (real === undefined) return;
    // Names only; the sidecars are read by the caller, a page at a time.
    yield* sortedIds(real, after, SAFE_ID);
  }

  async *finishedBefore(before: number): AsyncIterable<{ place: string; sidecar: Sidecar }> {
    for await (const found of walkUploads(this.root)) {
      if ('leftover' in found || found.sidecar.tusport.completed_at === undefined || path.basename(found.sidecarPath) !== `${found.sidecar.id}.json`) continue;
      const written = await fs.lstat(found.sidecarPath).then((stats) => stats.mtimeMs, () => undefined);
      if (written !== undefined && written < before) yield { place: path.dirname(found.sidecarPath), sidecar: found.sidecar };
    }
  }

  async *unfinished(): AsyncIterable<UnfinishedUpload> {
    for await (const found of walkUploads(this.root)) {
      if ('leftover' in found || found.dataSize === undefined || isFinished(found)) continue;
      yield { sidecar: found.sidecar, offset: found.dataSize };
    }
  }

  sweep(options: SweepOptions): Promise<SweepResult> {
    return sweepDirectory(this.directory, options);
  }

  describe(directory: string, stored: StoredUpload): Record<string, string> {
    return { Type: 'filestore', Path: stored.location, InfoPath: sidecarPath(this.dataPath(directory, stored.sidecar.id)) };
  }

  async remove(directory: string, stored: StoredUpload): Promise<void> {
    const data = await this.confinedDataPath(directory, stored.sidecar.id);
    if (data === undefined) return;
    // Data first, sidecars last: an interrupted removal leaves a sidecar (swept), not bytes.
    await fs.rm(stored.location, { force: true });
    if (stored.location !== data) {
      await fs.rm(data, { force: true });
      await fs.rm(sidecarPath(stored.location), { force: true });
    }
    await fs.rm(sidecarPath(data), { force: true });
  }
}
