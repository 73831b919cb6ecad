import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type pino from 'pino';
import { filesEndpoint, type RunningTusport, startTusport, tempDir } from '../../helpers/server.js';
import { until } from '../../helpers/wait.js';

/**
 * A real small filesystem for the store (a full disk, a disk turned read-only): tmpfs, which
 * needs root or CAP_SYS_ADMIN. Root ignores file modes, so this is how these failures are made.
 */
export function mountTmpfs(mountPoint: string, bytes: number, what: string): void {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes},mode=0700`, 'tusport-test', mountPoint], { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`${what} needs a small filesystem: "mount -t tmpfs" failed (${stderr || (error as Error).message}). Run the suite as root (or with CAP_SYS_ADMIN).`);
  }
}

/** Unmount once nothing holds the filesystem any more (a file handle may still be closing). */
export function unmountWhenFree(mountPoint: string): Promise<void> {
  return until(() => {
    try {
      execFileSync('umount', [mountPoint], { stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  }, `${mountPoint} to unmount`);
}

export interface TmpfsServer {
  server: RunningTusport;
  /** The tmpfs; the `/files` store is its `files` directory. */
  mountPoint: string;
  /** Close the server, unmount, remove the temp dir. */
  stop(): Promise<void>;
}

/** A tusport whose `/files` store is on a fresh tmpfs of `bytes` (in a temp dir of its own). */
export async function serveOnTmpfs(what: string, bytes: number, logger: pino.Logger): Promise<TmpfsServer> {
  const scratch = await tempDir(`tusport-${what}-`);
  const mountPoint = path.join(scratch.dir, 'disk');
  let mounted = false;
  let server: RunningTusport | undefined;
  const stop = async () => {
    try {
      await server?.close();
      if (mounted) await unmountWhenFree(mountPoint);
    } finally {
      await scratch.remove();
    }
  };
  try {
    await mkdir(mountPoint);
    mountTmpfs(mountPoint, bytes, what);
    mounted = true;
    server = await startTusport(filesEndpoint(mountPoint), { dir: scratch.dir, logger });
    return { server, mountPoint, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
