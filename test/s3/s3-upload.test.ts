import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tus, tusUpload } from '../helpers/tus-client.js';
import { ceph, idOf, MiB, objectBytes, PART, s3FilesConfig, sha256 } from './lib.js';

const info = ceph();
let bucket: string;
let server: RunningTusport;

beforeAll(async () => {
  bucket = await createTestBucket(info, 'upload');
  server = await startTusport(s3FilesConfig(info, bucket));
});
afterAll(async () => {
  await server?.close();
});

/** Upload with tus-js-client; check the object in the bucket and the GET download byte for byte. */
async function uploadAndVerify(data: Buffer, chunkSize: number) {
  const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize, metadata: { filename: 'data.bin' } });
  const id = idOf(url);
  const stored = await objectBytes(info, bucket, id);
  expect(stored.length).toBe(data.length);
  expect(sha256(stored)).toBe(sha256(data));
  const download = await raw(server.url, { method: 'GET', path: `/files/${id}`, headers: TUS });
  expect(download.status).toBe(200);
  expect(sha256(download.bytes)).toBe(sha256(data));
  // Nothing half-done is left: no open multipart upload, no tail object.
  expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === id)).toEqual([]);
  expect(await listAllKeys(info, bucket, id)).toEqual([id, `${id}.info`]);
  return id;
}

describe('S3 store: uploads of every shape land byte-identical', () => {
  it.each([
    ['0 bytes', 0, PART],
    ['1 byte', 1, PART],
    ['exactly partSize', PART, PART],
    ['3×partSize+1 (odd tail)', 3 * PART + 1, 8 * MiB],
    ['chunks smaller than partSize', 2 * PART + 12345, 3 * MiB + 7],
    ['chunks larger than partSize', 2 * PART + 12345, 2 * PART + 1],
  ])('%s', async (_name, size, chunkSize) => {
    await uploadAndVerify(randomBytes(size), chunkSize);
  });

  it('deferred length: the size is declared with the last chunk', async () => {
    const data = randomBytes(PART + 4321);
    const { url } = await tusUpload(Readable.from([data]), {
      endpoint: `${server.url}/files`,
      uploadLengthDeferred: true,
      uploadSize: data.length,
      chunkSize: 2 * MiB,
    });
    expect(sha256(await objectBytes(info, bucket, idOf(url)))).toBe(sha256(data));
  });

  it('the sidecar is <key>.info and names endpoint, params and completion', async () => {
    const id = await uploadAndVerify(randomBytes(1000), PART);
    const sidecar = JSON.parse((await objectBytes(info, bucket, `${id}.info`)).toString('utf8'));
    expect(sidecar).toMatchObject({ id, size: 1000, metadata: { filename: 'data.bin' }, tusport: { endpoint: '/files', params: {}, owner: null } });
    expect(typeof sidecar.tusport.completed_at).toBe('string');
  });
});

describe('S3 store: resume', () => {
  it('abort at odd offsets and resume, also on a fresh tusport (no in-memory state helps)', async () => {
    const data = randomBytes(2 * PART + 777);
    const endpoint = `${server.url}/files`;
    // First process: one chunk of 3 MiB+1 (below minPartSize: it waits as <key>.part).
    const first = await partialUpload(data, endpoint, 3 * MiB + 1);
    const id = idOf(first);
    expect(await headOffset(server.url, `/files/${id}`)).toBe(3 * MiB + 1);
    expect(await listAllKeys(info, bucket, id)).toContain(`${id}.part`);

    // A second, independent tusport on the same bucket resumes it.
    const second = await startTusport(s3FilesConfig(info, bucket));
    try {
      const url = `${second.url}/files/${id}`;
      // Another odd cut: PATCH 4 MiB+3 more with raw HTTP.
      const offset = await headOffset(second.url, `/files/${id}`);
      const more = await patch(second.url, `/files/${id}`, offset, data.subarray(offset, offset + 4 * MiB + 3));
      expect(more.status).toBe(204);
      expect(Number(more.headers['upload-offset'])).toBe(7 * MiB + 4);
      await tusUpload(data, { endpoint: `${second.url}/files`, uploadUrl: url, chunkSize: 6 * MiB });
      expect(sha256(await objectBytes(info, bucket, id))).toBe(sha256(data));
      expect(await listAllKeys(info, bucket, id)).toEqual([id, `${id}.info`]);
    } finally {
      await second.close();
    }
  });

  it('a PATCH at a stale offset is 409 and changes nothing', async () => {
    const data = randomBytes(PART + 10);
    const id = idOf(await partialUpload(data, `${server.url}/files`, MiB));
    const response = await patch(server.url, `/files/${id}`, 0, data.subarray(0, 100));
    expect(response.status).toBe(409);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_OFFSET_MISMATCH');
    expect(await headOffset(server.url, `/files/${id}`)).toBe(MiB);
  });

  it('a PATCH without Content-Length is 411 (S3 parts cannot be taken back) and changes nothing', async () => {
    const data = randomBytes(PART + 10);
    const id = idOf(await partialUpload(data, `${server.url}/files`, MiB));
    const response = await patch(server.url, `/files/${id}`, MiB, Readable.from([data.subarray(MiB, 2 * MiB)]));
    expect(response.status).toBe(411);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_LENGTH_REQUIRED' });
    expect(errorOf(response).message).toMatch(/Content-Length/);
    expect(await headOffset(server.url, `/files/${id}`)).toBe(MiB);
  });
});

describe('S3 store: termination and download', () => {
  it('DELETE removes every object of the upload, the .part tail included', async () => {
    const data = randomBytes(PART + 3 * MiB);
    // One full part plus a tail: a part in the multipart upload and a <key>.part object.
    const id = idOf(await partialUpload(data, `${server.url}/files`, PART + MiB));
    const before = await listAllKeys(info, bucket, id);
    expect(before).toEqual(expect.arrayContaining([`${id}.info`, `${id}.part`]));
    const response = await raw(server.url, { method: 'DELETE', path: `/files/${id}`, headers: TUS });
    expect(response.status).toBe(204);
    expect(await listAllKeys(info, bucket, id)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === id)).toEqual([]);
    const head = await raw(server.url, { method: 'HEAD', path: `/files/${id}`, headers: TUS });
    expect(head.status).toBe(404);
  });

  it('DELETE of a finished upload removes its object and sidecar', async () => {
    const id = await uploadAndVerify(randomBytes(2048), PART);
    expect((await raw(server.url, { method: 'DELETE', path: `/files/${id}`, headers: TUS })).status).toBe(204);
    expect(await listAllKeys(info, bucket, id)).toEqual([]);
  });

  it('GET of an unfinished upload is 409: not finished yet', async () => {
    const id = idOf(await partialUpload(randomBytes(PART), `${server.url}/files`, 1000));
    const response = await raw(server.url, { method: 'GET', path: `/files/${id}`, headers: TUS });
    expect(response.status).toBe(409);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'TUSPORT_ERR_UPLOAD_INCOMPLETE' });
  });
});

/** Start an upload and stop after the first chunk of `firstChunk` bytes; returns its URL. */
function partialUpload(data: Buffer, endpoint: string, firstChunk: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const upload = new tus.Upload(data, {
      endpoint,
      chunkSize: firstChunk,
      retryDelays: [],
      onChunkComplete: () => {
        upload.abort().then(() => resolve(upload.url!), reject);
      },
      onError: reject,
    });
    upload.start();
  });
}
