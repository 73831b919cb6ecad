import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { interruptedParallelUpload } from '../helpers/parallel-upload.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { ceph, idOf, MiB, objectBytes, s3Store, sha256 } from './lib.js';

/**
 * Concatenation on S3: the final upload's multipart upload is filled by UploadPartCopy from the
 * partial uploads' objects, small partials gathered into parts of at least 5 MiB.
 */

const info = ceph();
let bucket: string;
let server: RunningTusport;

beforeAll(async () => {
  bucket = await createTestBucket(info, 'concat');
  server = await startTusport({
    endpoints: [
      { path: '/files', store: s3Store(info, bucket) },
      { path: '/expiring', store: s3Store(info, bucket, { prefix: 'exp/' }), expire: '1h' },
    ],
  });
});
afterAll(async () => {
  await server?.close();
});

/** The final object is the data, the download too, and nothing else is left of the upload. */
async function verify(url: string, data: Buffer): Promise<void> {
  const id = idOf(url);
  expect(sha256(await objectBytes(info, bucket, id))).toBe(sha256(data));
  const download = await raw(server.url, { method: 'GET', path: `/files/${id}`, headers: TUS });
  expect(sha256(download.bytes)).toBe(sha256(data));
  expect(await listMultipartUploads(info, bucket)).toEqual([]);
  expect(await listAllKeys(info, bucket, '')).toEqual([id, `${id}.info`].sort());
}

async function clearBucket(): Promise<void> {
  for (const key of await listAllKeys(info, bucket, '')) await raw(server.url, { method: 'DELETE', path: `/files/${key.replace(/\.info$/, '')}`, headers: TUS });
}

describe('tus-js-client with parallelUploads: 4, to S3', () => {
  it.each([
    // Every partial at least 5 MiB: every part copied inside S3.
    ['large partials (4 × 6 MiB)', 24 * MiB, undefined],
    // Every partial smaller than 5 MiB: gathered and uploaded as one part.
    ['small partials (4 × 768 KiB)', 3 * MiB, undefined],
    // Small and large mixed: a small run topped up from the next partial's head, its rest copied.
    ['mixed sizes (1, 7, 2, 6 MiB)', 16 * MiB, [1, 7, 2, 6]],
  ])('%s: sha256-identical, nothing left but the final object', async (_name, size, mebibytes) => {
    await clearBucket();
    const data = randomBytes(size);
    let start = 0;
    const boundaries = mebibytes?.map((m) => ({ start, end: (start += m * MiB) }));
    const { url } = await tusUpload(data, {
      endpoint: `${server.url}/files`,
      parallelUploads: 4,
      ...(boundaries ? { parallelUploadBoundaries: boundaries } : {}),
      chunkSize: 6 * MiB,
      metadata: { filename: 'parallel.bin' },
    });
    await verify(url, data);
  });

  it('aborted by the client mid-way and resumed from its stored URLs: the same partials finish, byte-identical', async () => {
    await clearBucket();
    const data = randomBytes(22 * MiB + 5);
    const { url, storedPartials, concat } = await interruptedParallelUpload(`${server.url}/files`, data, { chunkSize: 5 * MiB });
    expect(concat).toBe(`final;${storedPartials.join(' ')}`);
    await verify(url, data);
  });

  it('partial uploads no final upload took in expire, finished or not', async () => {
    await clearBucket();
    const create = (body?: Buffer) =>
      raw(server.url, {
        method: 'POST',
        path: '/expiring',
        headers: { ...TUS, 'Upload-Concat': 'partial', 'Upload-Length': '100', ...(body ? { 'Content-Type': 'application/offset+octet-stream' } : {}) },
        ...(body ? { body } : {}),
      });
    const finished = await create(randomBytes(100));
    const unfinished = await create();
    expect([finished.status, unfinished.status]).toEqual([201, 201]);
    expect(finished.headers['upload-offset']).toBe('100');
    expect((await listAllKeys(info, bucket, 'exp/')).length).toBeGreaterThan(0);
    expect(await server.app.tusport.sweep(Date.now())).toMatchObject({ expired: 0 });
    expect(await server.app.tusport.sweep(Date.now() + 2 * 3600_000)).toMatchObject({ expired: 2, skipped: 0 });
    expect(await listAllKeys(info, bucket, 'exp/')).toEqual([]);
    expect(await listMultipartUploads(info, bucket)).toEqual([]);
  });

  it('PATCH to a final upload is 403 and leaves its object as it was', async () => {
    await clearBucket();
    const data = randomBytes(1000);
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, parallelUploads: 2 });
    const response = await raw(server.url, {
      method: 'PATCH',
      path: `/files/${idOf(url)}`,
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '1000' },
      body: 'x',
    });
    expect(response.status).toBe(403);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_FINAL_UPLOAD');
    await verify(url, data);
  });
});
