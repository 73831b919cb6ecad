import { constants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Throw unless files can be created in `directory`: it is a writable directory, or it does not
 * exist yet and its nearest existing ancestor is one (tusport creates it on first use). The
 * message says what is wrong with which path; it carries no error object (no stack, no secrets).
 */
export async function checkWritableDirectory(directory: string): Promise<void> {
  let current = path.resolve(directory);
  for (;;) {
    let stats;
    try {
      stats = await fs.stat(current);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const parent = path.dirname(current);
      if (code === 'ENOENT' && parent !== current) {
        current = parent;
        continue;
      }
      throw new Error(`${current} cannot be read (${code ?? 'error'})`);
    }
    if (!stats.isDirectory()) throw new Error(`${current} is not a directory`);
    try {
      await fs.access(current, constants.W_OK | constants.X_OK);
    } catch {
      throw new Error(`${current} is not writable`);
    }
    return;
  }
}
