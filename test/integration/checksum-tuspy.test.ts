import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, randomFile, sha256 } from '../helpers/files.js';
import { headOffset } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';
import { recordPatches, tuspyUpload } from '../helpers/tuspy.js';

const MiB = 1024 * 1024;
let server: RunningTusport;

beforeAll(async () => {
  server = await startTusport((dir) => filesEndpoint(dir));
});
afterAll(async () => {
  await server?.close();
});

const stored = (url: string) => readFile(path.join(server.dir, 'files', idOf(url)));

describe('python3-tuspy with upload_checksum=True (disk)', () => {
  it('uploads in chunks, each PATCH checksummed with sha1, byte-identical', async () => {
    const { file, sha } = await randomFile(server.dir, 'tuspy-sha1.bin', 3 * MiB + 12345);
    const patches = recordPatches(server);
    const result = await tuspyUpload(`${server.url}/files`, file, { chunkSize: MiB });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(sha256(await stored(result.url!))).toBe(sha);
    // tuspy really sent a checksum on every PATCH (4 chunks), and the server verified each one.
    expect(patches).toHaveLength(4);
    for (const headers of patches) expect(headers['upload-checksum']).toMatch(/^sha1 [A-Za-z0-9+/]{27}=$/);
  });

  it.each(['md5', 'sha256', 'sha512'] as const)('with %s', async (algorithm) => {
    const { file, sha } = await randomFile(server.dir, `tuspy-${algorithm}.bin`, MiB + 1);
    const patches = recordPatches(server);
    const result = await tuspyUpload(`${server.url}/files`, file, { chunkSize: 512 * 1024, algorithm });
    expect(result.code, result.stderr).toBe(0);
    expect(sha256(await stored(result.url!))).toBe(sha);
    expect(patches.every((headers) => String(headers['upload-checksum']).startsWith(`${algorithm} `))).toBe(true);
  });

  it('a chunk whose checksum is wrong is refused (460) and tuspy\'s retry resumes from the unchanged offset', async () => {
    const { file, sha } = await randomFile(server.dir, 'tuspy-retry.bin', 2 * MiB + 7);
    const patches = recordPatches(server);
    // Without retries tuspy gives up on the 460, and the server kept nothing of that chunk.
    const failed = await tuspyUpload(`${server.url}/files`, file, { chunkSize: MiB, corruptFirst: 1 });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain('460');
    // With a retry: the first chunk is sent wrong, refused, re-sent right; the upload completes.
    const retried = await tuspyUpload(`${server.url}/files`, file, { chunkSize: MiB, corruptFirst: 1, retries: 1 });
    expect(retried.code, retried.stderr).toBe(0);
    expect(sha256(await stored(retried.url!))).toBe(sha);
    // 1 refused PATCH of the failed run, then 1 refused + 3 accepted of the retried one.
    expect(patches).toHaveLength(5);
  });

  it('resumes across processes: one chunk, then a new tuspy with the URL sends the rest', async () => {
    const { file, sha } = await randomFile(server.dir, 'tuspy-resume.bin', 2 * MiB + 99);
    const first = await tuspyUpload(`${server.url}/files`, file, { chunkSize: MiB, stopAt: MiB });
    expect(first.code, first.stderr).toBe(0);
    const uploadPath = new URL(first.url!).pathname;
    expect(await headOffset(server.url, uploadPath)).toBe(MiB);
    const second = await tuspyUpload(`${server.url}/files`, file, { chunkSize: MiB, url: first.url! });
    expect(second.code, second.stderr).toBe(0);
    expect(second.offset).toBe(2 * MiB + 99);
    expect(sha256(await stored(first.url!))).toBe(sha);
  });
});
