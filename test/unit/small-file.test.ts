import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSmallFile } from '../../src/stores/small-file.js';
import { tempDir } from '../helpers/server.js';

/**
 * readSmallFile (src/stores/small-file.ts) reads sidecars without fs.promises.readFile's fstat:
 * it must still return every byte of a file of any size, including sizes at and around its first
 * buffer (8 KiB), where reading on is decided.
 */

const FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW;
let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  scratch = await tempDir('tusport-small-file-');
});
afterEach(() => scratch.remove());

describe('readSmallFile', () => {
  it.each([0, 1, 300, 8191, 8192, 8193, 16384, 100_000])('returns all %i bytes', async (size) => {
    const file = path.join(scratch.dir, 'f');
    const bytes = randomBytes(size);
    await writeFile(file, bytes);
    expect((await readSmallFile(file, FLAGS)).equals(bytes)).toBe(true);
  });

  it('rejects with the errno of a missing file, and of a symlink under O_NOFOLLOW', async () => {
    await expect(readSmallFile(path.join(scratch.dir, 'missing'), FLAGS)).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(path.join(scratch.dir, 'target'), 'x');
    await symlink(path.join(scratch.dir, 'target'), path.join(scratch.dir, 'link'));
    await expect(readSmallFile(path.join(scratch.dir, 'link'), FLAGS)).rejects.toMatchObject({ code: 'ELOOP' });
  });
});
