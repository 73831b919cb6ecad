import fs from 'node:fs/promises';
import path from 'node:path';
import { readSidecar, type Sidecar } from './sidecar.js';

export interface FoundUpload {
  sidecar: Sidecar;
  sidecarPath: string;
  dataPath: string;
  /** Size of the data file; undefined when it does not exist. */
  dataSize: number | undefined;
}

/** Every tusport sidecar below `root` (a store directory's fixed root), with its data file's size. */
export async function* walkUploads(root: string): AsyncGenerator<FoundUpload | { leftover: string }> {
  let entries: string[];
  try {
    entries = await fs.readdir(root, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const file = path.join(root, entry);
    if (entry.endsWith('.tmp')) {
      yield { leftover: file };
      continue;
    }
    if (!entry.endsWith('.json')) continue;
    const sidecar = await readSidecar(file).catch(() => undefined);
    if (!sidecar) continue;
    const dataPath = file.slice(0, -'.json'.length);
    yield { sidecar, sidecarPath: file, dataPath, dataSize: await fileSize(dataPath) };
  }
}

async function fileSize(file: string): Promise<number | undefined> {
  try {
    const stats = await fs.stat(file);
    return stats.isFile() ? stats.size : undefined;
  } catch {
    return undefined;
  }
}

export function isFinished(found: FoundUpload): boolean {
  const { sidecar, dataSize } = found;
  return sidecar.tusport.completed_at !== undefined || (sidecar.size !== undefined && dataSize === sidecar.size);
}
