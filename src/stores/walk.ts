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
    let entries: Dirent[];
    try {
      // Entry types come from the directory itself (lstat semantics): a symlink is a symlink.
      entries = await fs.readdir(directory, { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') problem(directory, error);
      continue;
    }
    for (const entry of entries) {
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
      let sidecar;
      try {
        sidecar = (await isFinalizedFile(file)) ? undefined : await readSidecar(file);
      } catch (error) {
        problem(file, error);
        continue;
      }
      if (!sidecar) continue;
      const dataPath = file.slice(0, -'.json'.length);
      yield { sidecar, sidecarPath: file, dataPath, dataSize: await fileSize(dataPath) };
    }
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
