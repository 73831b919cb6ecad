import fs from 'node:fs/promises';
import path from 'node:path';
import { directoryRoot } from '../endpoints/template.js';
import { acquireUploadLock } from '../uploads/lock.js';
import type { SweepOptions, SweepResult } from './backend.js';
import type { Sidecar } from './sidecar.js';
import { isFinished, walkUploads } from './walk.js';

/** A temp sidecar or a sidecar without data this old is debris from a crash, not work in progress. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/**
 * Remove what no client will finish from one endpoint's disk store: unfinished uploads older than
 * the endpoint's `expire` (finished uploads are never touched, but for partial uploads of a
 * concatenation no final upload took in), and debris a crash can leave
 * (tusport's own temp files, sidecars whose data file was never created); and carry on the
 * completion of uploads whose last byte is in but whose completion stopped half-way. Walks the
 * store's fixed root without following symlinks; takes each upload's lock first so a PATCH in
 * progress is never cut from under it without the usual hand-over. An entry it cannot judge or
 * remove is logged and skipped: the sweep always goes on with the rest.
 */
export async function sweepDirectory(directoryTemplate: string, options: SweepOptions): Promise<SweepResult> {
  const { endpoint, log, now } = options;
  const result: SweepResult = { expired: 0, leftovers: 0, completed: 0, skipped: 0 };
  const skip = (file: string, error: unknown) => {
    result.skipped += 1;
    log.warn({ endpoint, file, err: error }, 'sweep skipped an entry it could not handle');
  };
  for await (const found of walkUploads(directoryRoot(directoryTemplate), skip)) {
    const file = 'leftover' in found ? found.leftover : found.sidecarPath;
    try {
      if ('leftover' in found) {
        if (await olderThan(found.leftover, LEFTOVER_AGE_MS, now)) result.leftovers += await removeFiles(found.leftover);
        continue;
      }
      const { sidecar } = found;
      // Only this endpoint's uploads, and only an upload's own sidecar (`<id>.json`): sidecars
      // beside finalized files, or user files that merely look like sidecars, are never acted on.
      if (sidecar.tusport.endpoint !== endpoint || path.basename(found.sidecarPath) !== `${sidecar.id}.json`) continue;
      // Finished uploads are never removed; one whose completion stopped half-way (or, after a
      // crash, never started) is carried on.
      if (sidecar.tusport.completed_at !== undefined || isFinished(found)) {
        if (options.resume && (await options.resume(path.dirname(found.sidecarPath), sidecar))) result.completed += 1;
        // A finished partial upload of a concatenation still expires: no final upload took it in.
        if (sidecar.tusport.concat !== 'partial') continue;
      }
      if (found.dataSize === undefined) {
        if (await olderThan(found.sidecarPath, LEFTOVER_AGE_MS, now)) result.leftovers += await removeFiles(found.sidecarPath);
        continue;
      }
      if (!options.expireMs) continue;
      if (Date.parse(sidecar.creation_date) + options.expireMs >= now) continue;
      if (await removeExpired(found.dataPath, found.sidecarPath, options, sidecar)) result.expired += 1;
    } catch (error) {
      skip(file, error);
    }
  }
  return result;
}

async function removeExpired(dataPath: string, sidecarFile: string, options: SweepOptions, sidecar: Sidecar): Promise<boolean> {
  const lock = await acquireUploadLock(options.locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
  if (!lock) return false;
  try {
    await removeFiles(dataPath, sidecarFile);
    await options.onRemoved?.(sidecar);
    options.log.info({ uploadId: sidecar.id, endpoint: options.endpoint }, 'expired unfinished upload removed');
    return true;
  } finally {
    await lock.release();
  }
}

async function olderThan(file: string, ageMs: number, now: number): Promise<boolean> {
  try {
    return (await fs.lstat(file)).mtimeMs + ageMs < now;
  } catch {
    return false;
  }
}

/** Data before sidecar, as everywhere: an interrupted removal leaves a sidecar, never bytes. */
async function removeFiles(...files: string[]): Promise<number> {
  // `unlink`, not `rm`: only ever a file (or a symlink itself), never a directory's contents.
  for (const file of files) {
    await fs.unlink(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }
  return 1;
}
