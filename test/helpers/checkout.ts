import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp } from 'node:fs/promises';
import path from 'node:path';

/**
 * This checkout's files as a fresh clone with uncommitted work would have them: tracked files that
 * still exist plus untracked ones git does not ignore. Never dist/, node_modules or data/.
 */
export function checkoutFiles(root: string): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter((file) => file !== '' && existsSync(path.join(root, file)));
}

/** Copy `files` (relative to `root`) into `dest`, keeping their relative paths. */
export async function copyFiles(root: string, files: readonly string[], dest: string): Promise<void> {
  for (const file of files) await cp(path.join(root, file), path.join(dest, file));
}
