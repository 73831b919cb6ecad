import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { mapInBatches } from './batches.js';
import { isFinalizedFile, isTempName, readSidecar, type Sidecar } from './sidecar.js';

export interface FoundUpload {
  sidecar: Sidecar;
  sidecarPath: string;
  dataPath: string;
  /** Size of the data file; undefined when it does not exist (or is not a regular file). */
  dataSize: number | undefined;
}

/** What the walk could not read (a directory it may not list, a sidecar it may not open): skipped, never fatal. */
export type WalkProblem = (file: string, error: unknown) => void;

/**
 * Every tusport sidecar below `root` (a store directory's fixed root), with its data file's size,
 * and tusport's own temp files (`leftover`). Walks real directories only: a symlink is never
 * followed (neither to a directory nor to a file), so nothing outside the store is ever read,
 * listed or offered for removal. An entry that cannot be read is reported to `problem` and
 * skipped: one bad entry never ends the walk.
 */
export function walkUploads(root: string, problem: WalkProblem = () => {}): AsyncGenerator<FoundUpload | { leftover: string }> {
  // Sidecars read READ_AT_ONCE at a time (the shape the S3 walks share: src/stores/batches.ts).
  const inspected = mapInBatches(candidates(root, problem), READ_AT_ONCE, async (found) => ('leftover' in found ? found : inspect(found.sidecarPath, problem)));
  return withoutGaps(inspected);
}

/** What the walk finds before reading anything: candidate sidecars (by name) and tusport's temp files. */
async function* candidates(root: string, problem: WalkProblem): AsyncGenerator<{ sidecarPath: string } | { leftover: string }> {
  const pending = [root];
  for (let directory = pending.pop(); directory !== undefined; directory = pending.pop()) {
    let entries: AsyncIterable<Dirent>;
    try {
      // Streamed (a few dozen entries at a time), not one readdir: a directory of 100,000 uploads
      // is 200,000 entries, and the walk (quota rebuild, sweep) must not hold them all at once.
      // Entry types come from the directory itself (lstat semantics): a symlink is a symlink.
      entries = await fs.opendir(directory, { bufferSize: 128 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') problem(directory, error);
      continue;
    }
    for await (const entry of readEntries(entries, directory, problem)) {
      const file = path.join(directory, entry.name);
      if (entry.isDirectory()) pending.push(file);
      else if (!entry.isFile()) continue;
      else if (isTempName(entry.name)) yield { leftover: file };
      else if (entry.name.endsWith('.json')) yield { sidecarPath: file };
    }
  }
}

async function* withoutGaps<T>(source: AsyncIterable<T | undefined>): AsyncGenerator<T> {
  for await (const item of source) if (item !== undefined) yield item;
}

/**
 * Sidecars read at once. One after the other, each costs several thread-pool round trips (the
 * finalized-file check, open, stat, read, close, the data file's lstat): counting the quotas of a
 * store of 10,000 uploads took 13 s on a busy 2-core machine. A few dozen at a time keep the
 * thread pool busy while the walk still holds only this many sidecars.
 */
const READ_AT_ONCE = 32;

/** The upload whose sidecar `file` may be; undefined when it is not one (reported when it cannot be read). */
async function inspect(file: string, problem: WalkProblem): Promise<FoundUpload | undefined> {
  let sidecar;
  try {
    sidecar = (await isFinalizedFile(file)) ? undefined : await readSidecar(file);
  } catch (error) {
    problem(file, error);
    return undefined;
  }
  if (!sidecar) return undefined;
  const dataPath = file.slice(0, -'.json'.length);
  return { sidecar, sidecarPath: file, dataPath, dataSize: await fileSize(dataPath) };
}

/**
 * A directory's entries; a directory that fails while being read (removed, an I/O error) ends
 * here and is reported, and the walk goes on with the others. Entries removed or added while
 * it is read may be seen or not (readdir's rule); every other entry is seen once.
 */
async function* readEntries(entries: AsyncIterable<Dirent>, directory: string, problem: WalkProblem): AsyncGenerator<Dirent> {
  try {
    for await (const entry of entries) yield entry;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') problem(directory, error);
  }
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    const stats = await fs.lstat(file);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined;
  }
}

export function isFinished(found: FoundUpload): boolean {
  const { sidecar, dataSize } = found;
  return sidecar.tusport.completed_at !== undefined || (sidecar.size !== undefined && dataSize === sidecar.size);
}
