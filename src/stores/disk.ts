import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { directoryRoot, resolveDirectory, type TemplateParams } from '../endpoints/template.js';
import type { StorageBackend, StoredUpload, SweepOptions, SweepResult, UnfinishedUpload, WriteLimits, WriteResult } from './backend.js';
import { readSidecar, type Sidecar, sidecarPath, syncDirectory, writeNewSidecar, writeSidecar } from './sidecar.js';
import { finalizeOnDisk, finalPathTaken, type OverwriteMode, resolveFinalPath } from './finalize.js';
import { LazyFileSink } from './lazy-file-sink.js';
import { copyWithLimit } from './stream-copy.js';
import { checkWritableDirectory } from './writable-directory.js';
import { sweepDirectory } from './sweep.js';
import { isFinished, walkUploads } from './walk.js';

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

  /** @param directory the endpoint's store directory template (`./data/{username}`). */
  constructor(private readonly directory: string) {}

  place(params: TemplateParams): string {
    return resolveDirectory(this.directory, params);
  }

  /** The store's fixed root (above any `{param}`) is, or can become, a writable directory. */
  check(): Promise<void> {
    return checkWritableDirectory(directoryRoot(this.directory));
  }

  dataPath(directory: string, id: string): string {
    if (!SAFE_ID.test(id)) throw new Error(`unsafe upload id ${JSON.stringify(id)}`);
    return path.join(directory, id);
  }

  async create(directory: string, sidecar: Sidecar): Promise<StoredUpload> {
    const data = this.dataPath(directory, sidecar.id);
    await fs.mkdir(directory, { recursive: true, mode: 0o750 });
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
    const sidecar = await readSidecar(sidecarPath(this.dataPath(directory, id)));
    return sidecar?.id === id ? sidecar : undefined;
  }

  async get(directory: string, id: string): Promise<StoredUpload | undefined> {
    const data = this.dataPath(directory, id);
    const sidecar = await readSidecar(sidecarPath(data));
    if (!sidecar || sidecar.id !== id) return undefined;
    // A finalized upload's bytes live at its final path (checked to be inside the store and,
    // by the sidecar beside it, still this upload's file).
    const location = sidecar.tusport.final_path ? await resolveFinalPath(directory, sidecar.tusport.final_path, id) : data;
    if (!location) return undefined;
    let stats;
    try {
      stats = await fs.stat(location);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    if (!stats.isFile()) return undefined;
    return { sidecar, offset: stats.size, location };
  }

  async write(directory: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    const data = this.dataPath(directory, id);
    writesInProgress++;
    let outcome;
    try {
      // The sink fsyncs before it closes: the 204 that acknowledges these bytes is sent only after.
      // It holds a file descriptor only while bytes flow (a stalled client holds none).
      const sink = new LazyFileSink(data, offset, { highWaterMark: writeBufferBytes() });
      outcome = await copyWithLimit(source, sink, limits.limit, stop);
    } finally {
      writesInProgress--;
    }
    const written = offset + outcome.bytes;
    if (outcome.kind === 'interrupted') return { kind: 'interrupted', offset: written, reason: outcome.reason };
    return { kind: outcome.kind, offset: written };
  }

  async truncate(directory: string, id: string, offset: number): Promise<void> {
    const handle = await fs.open(this.dataPath(directory, id), 'r+');
    try {
      await handle.truncate(offset);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async updateSidecar(directory: string, sidecar: Sidecar): Promise<void> {
    await writeSidecar(sidecarPath(this.dataPath(directory, sidecar.id)), sidecar);
  }

  async open(stored: StoredUpload): Promise<Readable> {
    return createReadStream(stored.location);
  }

  async finalize(directory: string, stored: StoredUpload, relativePath: string, overwrite: OverwriteMode): Promise<string> {
    const { finalPath } = await finalizeOnDisk({ root: directory, dataPath: stored.location, sidecar: stored.sidecar, relativePath, overwrite });
    return finalPath;
  }

  finalPathTaken(directory: string, relativePath: string): Promise<boolean> {
    return finalPathTaken(directory, relativePath);
  }

  async *unfinished(): AsyncIterable<UnfinishedUpload> {
    for await (const found of walkUploads(directoryRoot(this.directory))) {
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
    const data = this.dataPath(directory, stored.sidecar.id);
    // Data first, sidecars last: an interrupted removal leaves a sidecar (swept), not bytes.
    await fs.rm(stored.location, { force: true });
    if (stored.location !== data) {
      await fs.rm(data, { force: true });
      await fs.rm(sidecarPath(stored.location), { force: true });
    }
    await fs.rm(sidecarPath(data), { force: true });
  }
}
