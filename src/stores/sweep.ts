import fs from 'node:fs/promises';
import path from 'node:path';
import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import { directoryRoot } from '../endpoints/template.js';
import { acquireUploadLock } from '../protocol/lock.js';
import { readSidecar } from './sidecar.js';

export interface SweepTarget {
  /** The endpoint's URL template, as recorded in its sidecars. */
  endpoint: string;
  /** The endpoint's store directory template. */
  directory: string;
  expireMs?: number | undefined;
}

export interface SweepResult {
  expired: number;
  leftovers: number;
}

/** A temp sidecar or a sidecar without data this old is debris from a crash, not work in progress. */
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/**
 * Remove what no client will finish: unfinished uploads older than their endpoint's `expire`
 * (finished uploads are never touched), and debris a crash can leave (temp sidecars, sidecars
 * whose data file was never created). Walks each endpoint's store root; takes each upload's lock
 * first so a PATCH in progress is never cut from under it without the usual hand-over.
 */
export async function sweepStores(targets: SweepTarget[], locker: Locker, log: FastifyBaseLogger, now = Date.now()): Promise<SweepResult> {
  const result: SweepResult = { expired: 0, leftovers: 0 };
  const roots = new Map<string, SweepTarget[]>();
  for (const target of targets) {
    const root = directoryRoot(target.directory);
    roots.set(root, [...(roots.get(root) ?? []), target]);
  }
  for (const [root, rootTargets] of roots) {
    let entries: string[];
    try {
      entries = await fs.readdir(root, { recursive: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    for (const entry of entries) {
      const file = path.join(root, entry);
      if (entry.endsWith('.tmp')) {
        if (await olderThan(file, LEFTOVER_AGE_MS, now)) result.leftovers += await removeFiles(file);
        continue;
      }
      if (!entry.endsWith('.json')) continue;
      const sidecar = await readSidecar(file).catch(() => undefined);
      const target = sidecar && rootTargets.find((t) => t.endpoint === sidecar.tusport.endpoint);
      if (!sidecar || !target) continue;
      const data = file.slice(0, -'.json'.length);
      const size = await fileSize(data);
      if (size === undefined) {
        if (await olderThan(file, LEFTOVER_AGE_MS, now)) result.leftovers += await removeFiles(file);
        continue;
      }
      const finished = sidecar.tusport.completed_at !== undefined || (sidecar.size !== undefined && size === sidecar.size);
      if (finished || !target.expireMs) continue;
      if (Date.parse(sidecar.creation_date) + target.expireMs >= now) continue;
      const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
      if (!lock) continue;
      try {
        await removeFiles(data, file);
        result.expired += 1;
        log.info({ uploadId: sidecar.id, endpoint: target.endpoint, offset: size }, 'expired unfinished upload removed');
      } finally {
        await lock.release();
      }
    }
  }
  return result;
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    const stats = await fs.stat(file);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined;
  }
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
