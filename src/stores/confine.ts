import fs from 'node:fs/promises';
import path from 'node:path';
import { syncDirectory } from './sidecar.js';

/**
 * Keeping every path tusport touches inside its store root. Store directories are rendered from
 * URL params and finalize paths from client names; both are checked as strings, but a symlink
 * inside the store (put there by anyone with access to the disk) could still lead a write, a
 * read or a removal outside. So directories are resolved one segment at a time against the real
 * root, and files are opened without following a symlink in their own name (O_NOFOLLOW).
 */

/** Why a segment cannot be used: the caller's error (a 503 naming what to fix, never a path outside). */
export type UnsafePath = (segment: string, why: string) => Error;

/**
 * Resolve (and with `create`, make) the directories of a `/`-separated relative path one segment at
 * a time, checking each real path stays inside `realRoot`: a symlink out of the store is refused
 * before anything is created beyond it. 'missing': not there (no create); 'blocked': a non-directory.
 */
export async function walkParents(realRoot: string, relativeDir: string, create: boolean, unsafe: UnsafePath): Promise<string | 'missing' | 'blocked'> {
  let current = realRoot;
  if (relativeDir === '.' || relativeDir === '') return current;
  for (const segment of relativeDir.split('/')) {
    const next = path.join(current, segment);
    if (create) {
      try {
        await fs.mkdir(next, { mode: 0o750 });
        await syncDirectory(current);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    const real = await ifExists(fs.realpath(next));
    if (!real && create) throw unsafe(segment, 'is a dangling symlink');
    if (!real) return 'missing';
    if (!inside(realRoot, real)) throw unsafe(segment, 'leads outside the store');
    if (!(await fs.stat(real)).isDirectory()) return 'blocked';
    current = real;
  }
  return current;
}

/**
 * The real path of `directory` (below `root`, as `resolveDirectory` renders it), proven to stay
 * inside the real `root`; with `create`, the missing directories are made on the way. Undefined
 * when it does not exist (and `create` is false) or a file stands where a directory should be.
 */
export async function confinedDirectory(root: string, directory: string, create: boolean, unsafe: UnsafePath): Promise<string | undefined> {
  if (create) await fs.mkdir(root, { recursive: true, mode: 0o750 });
  const realRoot = await realStoreRoot(root);
  if (!realRoot) return undefined;
  const relative = path.relative(root, directory);
  if (relative.startsWith('..') || path.isAbsolute(relative)) throw unsafe(directory, 'is not below the store root');
  const walked = await walkParents(realRoot, relative.split(path.sep).join('/'), create, unsafe);
  if (walked === 'missing') return undefined;
  if (walked === 'blocked') {
    if (create) throw Object.assign(new Error(`a file stands where the store directory ${directory} should be`), { code: 'ENOTDIR', syscall: 'mkdir' });
    return undefined;
  }
  return walked;
}

/**
 * The real path of a store root, resolved once per process: the root is configuration, not
 * something a request names, and every HEAD and PATCH asked for it (one realpath each, ~9% of a
 * HEAD's CPU here). Segments below the root are still resolved on every request. A root that does
 * not exist (yet) is not remembered. Re-pointing a symlinked root while tusport runs takes effect
 * at the next restart.
 */
const realRoots = new Map<string, string>();

async function realStoreRoot(root: string): Promise<string | undefined> {
  const known = realRoots.get(root);
  if (known !== undefined) return known;
  const real = await ifExists(fs.realpath(root));
  if (real !== undefined) realRoots.set(root, real);
  return real;
}

export function inside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative));
}

/** The operation's result, or undefined when the path (or a parent) does not exist. */
export async function ifExists<T>(operation: Promise<T>): Promise<T | undefined> {
  try {
    return await operation;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

export async function exists(file: string): Promise<boolean> {
  return (await ifExists(fs.lstat(file))) !== undefined;
}
