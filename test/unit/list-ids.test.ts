import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sortedIds } from '../../src/stores/list-ids.js';
import { tempDir } from '../helpers/server.js';

/**
 * The disk store lists a directory's upload ids in order while holding only a window of names
 * (src/stores/list-ids.ts). With a window far smaller than the directory, every id must still come
 * exactly once, in order, from any cursor: the windows' seams are where a bounded listing loses
 * or repeats names.
 */

const SAFE_ID = /^[A-Za-z0-9_-]{1,128}$/;
let scratch: Awaited<ReturnType<typeof tempDir>>;
let ids: string[];

beforeEach(async () => {
  scratch = await tempDir('tusport-list-ids-');
  ids = Array.from({ length: 157 }, () => randomBytes(8).toString('hex'));
  for (const id of ids) {
    await writeFile(path.join(scratch.dir, id), '');
    await writeFile(path.join(scratch.dir, `${id}.json`), '{}');
  }
  // What is not an upload's sidecar is never listed: temp files, a sidecar's sidecar, unsafe names, directories.
  await writeFile(path.join(scratch.dir, `${ids[0]}.json.0123456789ab.tmp`), '');
  await writeFile(path.join(scratch.dir, `${ids[1]}.json.json`), '{}');
  await writeFile(path.join(scratch.dir, 'has space.json'), '{}');
  await mkdir(path.join(scratch.dir, 'alice'));
  ids.sort();
});
afterEach(() => scratch.remove());

async function collect(iterable: AsyncIterable<string>, most = Infinity): Promise<string[]> {
  const out: string[] = [];
  for await (const id of iterable) {
    out.push(id);
    if (out.length >= most) break;
  }
  return out;
}

describe('sortedIds', () => {
  it.each([1, 5, 16, 157, 4096])('yields every id once, in order, with a window of %i names', async (window) => {
    expect(await collect(sortedIds(scratch.dir, undefined, SAFE_ID, window))).toEqual(ids);
  });

  it('starts after the cursor, also when the cursor falls inside a later window', async () => {
    for (const at of [0, 6, 77, 155]) {
      expect(await collect(sortedIds(scratch.dir, ids[at], SAFE_ID, 7))).toEqual(ids.slice(at + 1));
    }
    expect(await collect(sortedIds(scratch.dir, ids.at(-1), SAFE_ID, 7))).toEqual([]);
  });

  it('a reader that stops early gets the first ids; a directory that does not exist lists nothing', async () => {
    expect(await collect(sortedIds(scratch.dir, undefined, SAFE_ID, 10), 25)).toEqual(ids.slice(0, 25));
    expect(await collect(sortedIds(path.join(scratch.dir, 'missing'), undefined, SAFE_ID))).toEqual([]);
  });
});
