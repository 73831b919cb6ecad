import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A file of random bytes; returns its path and sha256. */
export async function randomFile(dir: string, name: string, size: number): Promise<{ file: string; sha: string; data: Buffer }> {
  const data = randomBytes(size);
  const file = path.join(dir, name);
  await writeFile(file, data);
  return { file, sha: sha256(data), data };
}

/** Every file below a directory, relative paths, sorted. */
export async function listTree(root: string): Promise<string[]> {
  try {
    const entries = await readdir(root, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(root, path.join(e.parentPath, e.name)))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The upload id at the end of an upload URL or path (`http://host/files/<id>`, `/files/<id>`). */
export function idOf(uploadUrl: string): string {
  const id = uploadUrl.split(/[?#]/)[0]?.split('/').pop();
  if (!id) throw new Error(`no upload id in ${JSON.stringify(uploadUrl)}`);
  return id;
}

/** A file's size in bytes, or undefined when it does not exist (any other error throws). */
export async function sizeOf(file: string): Promise<number | undefined> {
  try {
    return (await stat(file)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
