import type { Dirent } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
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
export async function* walkUploads(root: string, problem: WalkProblem = () => {}): AsyncGenerator<FoundUpload | { leftover: string }> {
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
    let batch: string[] = [];
    for await (const entry of readEntries(entries, directory, problem)) {
      const file = path.join(directory, entry.name);
      if (entry.isDirectory()) {
        pending.push(file);
        continue;
      }
      if (!entry.isFile()) continue;
      if (isTempName(entry.name)) {
        yield { leftover: file };
        continue;
      }
      if (!entry.name.endsWith('.json')) continue;
      batch.push(file);
      if (batch.length < READ_AT_ONCE) continue;
      yield* await inspect(batch, problem);
      batch = [];
    }
    yield* await inspect(batch, problem);
  }
}

/**
 * Sidecars read at once. One after the other, each costs several thread-pool round trips (the
 * finalized-file check, open, stat, read, close, the data file's lstat): counting the quotas of a
 * store of 10,000 uploads took 13 s on a busy 2-core machine. A few dozen at a time keep the
 * thread pool busy while the walk still holds only this many sidecars.
 */
const READ_AT_ONCE = 32;

/** The uploads among `files` (candidate sidecars), in their order; one that cannot be read is reported and skipped. */
async function inspect(files: readonly string[], problem: WalkProblem): Promise<FoundUpload[]> {
  const found = await Promise.all(
    files.map(async (file): Promise<FoundUpload | undefined> => {
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
    }),
  );
  return found.filter((upload) => upload !== undefined);
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
