import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { watch } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ownScratchDirectory } from '../../src/stores/scratch.js';
import { createTestBucket, listAllKeys, listMultipartUploads, s3Client } from '../harness/ceph.js';
import { checksumHeader, wrongChecksum } from '../helpers/checksum.js';
import { randomFile } from '../helpers/files.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { requestArrived, type RunningTusport, startTusport } from '../helpers/server.js';
import { recordPatches, tuspyUpload } from '../helpers/tuspy.js';
import { until } from '../helpers/wait.js';
import { ceph, idOf, MiB, objectBytes, PART, s3FilesConfig, sha256 } from './lib.js';

const info = ceph();
let bucket: string;
let server: RunningTusport;

beforeAll(async () => {
  bucket = await createTestBucket(info, 'checksum');
  server = await startTusport(s3FilesConfig(info, bucket));
});
afterAll(async () => {
  await server?.close();
});

// Checksummed bodies are staged in the temp directory until verified: none may be left behind.
const staged = async () => new Set((await readdir(ownScratchDirectory()).catch(() => [] as string[])).filter((name) => name.startsWith('staged-')));
let stagedBefore: Set<string>;
beforeEach(async () => {
  stagedBefore = await staged();
});
afterEach(async () => {
  expect([...(await staged())].filter((name) => !stagedBefore.has(name))).toEqual([]);
});

/** What S3 holds for an upload: its committed parts, its `.part` tail, and HEAD's offset. */
async function s3State(uploadPath: string) {
  const id = idOf(uploadPath);
  const multipart = (await listMultipartUploads(info, bucket)).find((upload) => upload.Key === id);
  const listed = multipart ? await s3Client(info).listParts({ Bucket: bucket, Key: id, UploadId: multipart.UploadId }) : undefined;
  const keys = await listAllKeys(info, bucket, id);
  const tail = keys.includes(`${id}.part`) ? sha256(await objectBytes(info, bucket, `${id}.part`)) : null;
  return {
    offset: await headOffset(server.url, uploadPath),
    parts: (listed?.Parts ?? []).map(({ PartNumber, ETag, Size }) => ({ PartNumber, ETag, Size })),
    tail,
    keys,
  };
}

const chunked = (data: Buffer) => Readable.from([data.subarray(0, Math.floor(data.length / 2)), data.subarray(Math.floor(data.length / 2))]);

describe('S3: python3-tuspy with upload_checksum=True', () => {
  it.each([
    ['chunks below partSize (tails wait as <key>.part)', 3 * MiB],
    ['chunks above partSize', PART + MiB],
  ])('%s: every PATCH checksummed, byte-identical', async (_name, chunkSize) => {
    const { file, sha } = await randomFile(server.dir, 'tuspy.bin', 2 * PART + 4321);
    const patches = recordPatches(server);
    const result = await tuspyUpload(`${server.url}/files`, file, { chunkSize });
    expect(result.code, result.stderr).toBe(0);
    const id = idOf(result.url!);
    expect(sha256(await objectBytes(info, bucket, id))).toBe(sha);
    expect(patches.length).toBe(Math.ceil((2 * PART + 4321) / chunkSize));
    for (const headers of patches) expect(headers['upload-checksum']).toMatch(/^sha1 /);
    expect(await listAllKeys(info, bucket, id)).toEqual([id, `${id}.info`]);
  });

  it('a wrong checksum (460) leaves S3 as it was and tuspy\'s retry completes the upload', async () => {
    const { file, sha } = await randomFile(server.dir, 'tuspy-retry.bin', PART + 3 * MiB);
    const result = await tuspyUpload(`${server.url}/files`, file, { chunkSize: 3 * MiB, corruptFirst: 1, retries: 1 });
    expect(result.code, result.stderr).toBe(0);
    expect(sha256(await objectBytes(info, bucket, idOf(result.url!)))).toBe(sha);
  });
});

describe('S3: Upload-Checksum with raw requests', () => {
  it('a mismatch is 460 and touches no part nor the tail; the upload then resumes byte-identical', async () => {
    const data = randomBytes(2 * PART + 1000);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const first = data.subarray(0, PART + 100);
    expect((await patch(server.url, upload, 0, first, { 'Upload-Checksum': checksumHeader('sha256', first) })).status).toBe(204);
    const before = await s3State(upload);
    // One committed part and a 100-byte tail: both must survive the refused PATCH untouched.
    expect(before).toMatchObject({ offset: PART + 100, parts: [{ PartNumber: 1, Size: PART }] });
    expect(before.tail).not.toBeNull();

    const second = data.subarray(PART + 100, 2 * PART + 100);
    const bad = await patch(server.url, upload, PART + 100, second, { 'Upload-Checksum': wrongChecksum('sha256', second) });
    expect(bad.status).toBe(460);
    expect(errorOf(bad).code).toBe('TUSPORT_ERR_CHECKSUM_MISMATCH');
    expect(await s3State(upload)).toEqual(before);

    expect((await patch(server.url, upload, PART + 100, second, { 'Upload-Checksum': checksumHeader('md5', second) })).status).toBe(204);
    const last = data.subarray(2 * PART + 100);
    const done = await patch(server.url, upload, 2 * PART + 100, last, { 'Upload-Checksum': checksumHeader('crc32', last) });
    expect(done.status).toBe(204);
    expect(done.headers['upload-offset']).toBe(String(data.length));
    expect(sha256(await objectBytes(info, bucket, idOf(upload)))).toBe(sha256(data));
  });

  it('only checksummed PATCHes are staged: one without a checksum streams to the part writer as before', async () => {
    // inotify on this process's scratch directory sees every staging directory created, however briefly it lives.
    const created: string[] = [];
    await mkdir(ownScratchDirectory(), { recursive: true });
    const watcher = watch(ownScratchDirectory(), (_event, name) => {
      if (name?.startsWith('staged-') && !created.includes(name)) created.push(name);
    });
    try {
      const data = randomBytes(PART + 1);
      const plain = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
      expect((await patch(server.url, plain, 0, data)).status).toBe(204);
      const checked = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
      expect((await patch(server.url, checked, 0, data, { 'Upload-Checksum': checksumHeader('crc32', data) })).status).toBe(204);
      // inotify reports in order: once the checksummed PATCH's file is seen, one the plain PATCH
      // had made would have been seen before it.
      await until(() => created.length > 0, 'the staging file of the checksummed PATCH to be seen');
      expect(created).toHaveLength(1);
    } finally {
      watcher.close();
    }
  });

  it('a checksummed body needs no Content-Length (it is staged); an unchecked one still does (411)', async () => {
    const data = randomBytes(PART + 5);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const unchecked = await patch(server.url, upload, 0, chunked(data));
    expect(unchecked.status).toBe(411);
    expect(errorOf(unchecked).code).toBe('TUSPORT_ERR_LENGTH_REQUIRED');
    const checked = await patch(server.url, upload, 0, chunked(data), { 'Upload-Checksum': checksumHeader('sha1', data) });
    expect(checked.status).toBe(204);
    expect(checked.headers['upload-offset']).toBe(String(data.length));
    expect(sha256(await objectBytes(info, bucket, idOf(upload)))).toBe(sha256(data));
  });

  it('a checksummed chunked body past Upload-Length is 413 and nothing reaches S3', async () => {
    const data = randomBytes(PART + 10);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': PART });
    const before = await s3State(upload);
    const response = await patch(server.url, upload, 0, chunked(data), { 'Upload-Checksum': checksumHeader('sha1', data) });
    expect(response.status).toBe(413);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_PAST_UPLOAD_LENGTH');
    expect(await s3State(upload)).toEqual(before);
    expect(before).toMatchObject({ offset: 0, parts: [], tail: null });
  });

  it('an unknown algorithm is 400 and nothing reaches S3', async () => {
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 11 });
    const response = await patch(server.url, upload, 0, 'hello world', { 'Upload-Checksum': 'sha3 Kq5sNclPz7QV2+lfQIuc6R7oRu0=' });
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_CHECKSUM_ALGORITHM');
    expect(await s3State(upload)).toMatchObject({ offset: 0, parts: [], tail: null });
  });

  it('a client gone mid-body: S3 holds nothing of its checksummed bytes', async () => {
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 2 * PART });
    const arrived = requestArrived(server, (request) => request.method === 'PATCH' && request.url === upload);
    const request = http.request(`${server.url}${upload}`, {
      method: 'PATCH',
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', 'Content-Length': String(2 * PART), 'Upload-Checksum': checksumHeader('sha1', Buffer.alloc(1)) },
    });
    request.on('error', () => undefined);
    request.write(randomBytes(PART + MiB));
    await arrived;
    request.destroy();
    expect(await s3State(upload)).toMatchObject({ offset: 0, parts: [], tail: null });
  });
});

describe('S3: checksum on creation-with-upload', () => {
  it('a wrong checksum is 460 and leaves no object nor multipart upload; a right one creates', async () => {
    const data = randomBytes(PART + 3);
    const headers = { ...TUS, 'Upload-Length': String(2 * PART), 'Content-Type': 'application/offset+octet-stream' };
    const keysBefore = await listAllKeys(info, bucket);
    const openBefore = (await listMultipartUploads(info, bucket)).map((upload) => upload.UploadId);
    const wrong = await raw(server.url, { method: 'POST', path: '/files', headers: { ...headers, 'Upload-Checksum': wrongChecksum('sha256', data) }, body: data });
    expect(wrong.status).toBe(460);
    expect(errorOf(wrong).code).toBe('TUSPORT_ERR_CHECKSUM_MISMATCH');
    expect(wrong.headers.location).toBeUndefined();
    expect(await listAllKeys(info, bucket)).toEqual(keysBefore);
    expect((await listMultipartUploads(info, bucket)).map((upload) => upload.UploadId)).toEqual(openBefore);
    const right = await raw(server.url, { method: 'POST', path: '/files', headers: { ...headers, 'Upload-Checksum': checksumHeader('sha256', data) }, body: data });
    expect(right.status).toBe(201);
    expect(right.headers['upload-offset']).toBe(String(data.length));
    const upload = new URL(String(right.headers.location)).pathname;
    expect(await s3State(upload)).toMatchObject({ offset: data.length, parts: [{ PartNumber: 1, Size: PART }] });
  });
});

describe('S3: checksum-trailer', () => {
  it('a right trailer is 204; a wrong one 460 with S3 untouched', async () => {
    const data = randomBytes(PART + 77);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const headers = { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', Trailer: 'Upload-Checksum' };
    const bad = await raw(server.url, { method: 'PATCH', path: upload, headers, body: chunked(data), trailers: { 'Upload-Checksum': wrongChecksum('sha512', data) } });
    expect(bad.status).toBe(460);
    expect(await s3State(upload)).toMatchObject({ offset: 0, parts: [], tail: null });
    const good = await raw(server.url, { method: 'PATCH', path: upload, headers, body: chunked(data), trailers: { 'Upload-Checksum': checksumHeader('sha512', data) } });
    expect(good.status).toBe(204);
    expect(sha256(await objectBytes(info, bucket, idOf(upload)))).toBe(sha256(data));
  });
});
