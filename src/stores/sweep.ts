import fs from 'node:fs/promises';
import path from 'node:path';
import { directoryRoot } from '../endpoints/template.js';
import { acquireUploadLock } from '../protocol/lock.js';
import type { SweepOptions, SweepResult } from './backend.js';
import { isFinished, walkUploads } from './walk.js';

/** A temp sidecar or a sidecar without data this old is debris from a crash, not work in progress. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/**
 * Remove what no client will finish from one endpoint's disk store: unfinished uploads older than
 * the endpoint's `expire` (finished uploads are never touched), and debris a crash can leave (temp
 * sidecars, sidecars whose data file was never created). Walks the store's fixed root; takes each
 * upload's lock first so a PATCH in progress is never cut from under it without the usual hand-over.
 */
export async function sweepDirectory(directoryTemplate: string, options: SweepOptions): Promise<SweepResult> {
  const { endpoint, expireMs, locker, log, now, onRemoved } = options;
  const result: SweepResult = { expired: 0, leftovers: 0 };
  for await (const found of walkUploads(directoryRoot(directoryTemplate))) {
    if ('leftover' in found) {
      if (await olderThan(found.leftover, LEFTOVER_AGE_MS, now)) result.leftovers += await removeFiles(found.leftover);
      continue;
    }
    const { sidecar } = found;
    // Only this endpoint's uploads, and only an upload's own sidecar (`<id>.json`): sidecars
    // beside finalized files, or user files that merely look like sidecars, are never acted on.
    if (sidecar.tusport.endpoint !== endpoint || path.basename(found.sidecarPath) !== `${sidecar.id}.json`) continue;
    // Finished uploads are never swept; a finalized one has no data at its upload location.
    if (sidecar.tusport.completed_at !== undefined) continue;
    if (found.dataSize === undefined) {
      if (await olderThan(found.sidecarPath, LEFTOVER_AGE_MS, now)) result.leftovers += await removeFiles(found.sidecarPath);
      continue;
    }
    if (isFinished(found) || !expireMs) continue;
    if (Date.parse(sidecar.creation_date) + expireMs >= now) continue;
    const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
    if (!lock) continue;
    try {
      await removeFiles(found.dataPath, found.sidecarPath);
      result.expired += 1;
      onRemoved?.(sidecar);
      log.info({ uploadId: sidecar.id, endpoint, offset: found.dataSize }, 'expired unfinished upload removed');
    } finally {
      await lock.release();
    }
  }
  return result;
}

async function olderThan(file: string, ageMs: number, now: number): Promise<boolean> {
  try {
    return (await fs.stat(file)).mtimeMs + ageMs < now;
  } catch {
    return false;
  }
}

/** Data before sidecar, as everywhere: an interrupted removal leaves a sidecar, never bytes. */
async function removeFiles(...files: string[]): Promise<number> {
  for (const file of files) await fs.rm(file, { force: true });
  return 1;
}
