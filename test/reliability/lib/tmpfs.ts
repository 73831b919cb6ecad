import { execFileSync } from 'node:child_process';
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
