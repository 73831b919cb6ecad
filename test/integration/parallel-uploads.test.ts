import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, sha256 } from '../helpers/files.js';
import { interruptedParallelUpload } from '../helpers/parallel-upload.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

let server: RunningTusport;
beforeAll(async () => {
  server = await startTusport((dir) => filesEndpoint(dir, { policy: { accept: ['application/octet-stream', '.bin'] } }));
});
afterAll(async () => {
  await server?.close();
});

describe('tus-js-client with parallelUploads: 4, to disk', () => {
  it.each([
    ['smaller than the parallelism (3 bytes)', 3],
    ['uneven (1 MiB + 7)', 1024 * 1024 + 7],
  ])('%s: sha256-identical, only the final upload is left', async (_name, size) => {
    const data = randomBytes(size);
    const before = await readdir(path.join(server.dir, 'files')).catch(() => [] as string[]);
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, parallelUploads: 4, chunkSize: 64 * 1024, metadata: { filename: 'a.bin' } });
    const id = idOf(url);
    expect(sha256(await readFile(path.join(server.dir, 'files', id)))).toBe(sha256(data));
    const added = (await readdir(path.join(server.dir, 'files'))).filter((name) => !before.includes(name));
    expect(added.sort()).toEqual([id, `${id}.json`]);
  });

  it('aborted by the client mid-way and resumed from its stored URLs: the same partial uploads finish, byte-identical', async () => {
    const data = randomBytes(8 * 1024 * 1024 + 123);
    const { url, storedPartials, concat } = await interruptedParallelUpload(`${server.url}/files`, data, { chunkSize: 256 * 1024 });
    expect(storedPartials).toHaveLength(4);
    expect(concat).toBe(`final;${storedPartials.join(' ')}`);
    expect(sha256(await readFile(path.join(server.dir, 'files', idOf(url))))).toBe(sha256(data));
  });
});
