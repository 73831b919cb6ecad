import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree, sha256, sha256File } from '../helpers/files.js';
import { within } from '../helpers/wait.js';
import { createUpload, errorOf, headOffset, patch, type RawResponse, raw, TUS } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

/** maxChunkSize and maxSize, against a listening tusport. */

const MAX_CHUNK = 1000;
const MAX_SIZE = 10_000;
const OCTET = 'application/offset+octet-stream';

let server: RunningTusport;
let filesDir: string;

beforeAll(async () => {
  server = await startTusport((dir) => filesEndpoint(dir, { maxChunkSize: MAX_CHUNK, maxSize: MAX_SIZE }));
  filesDir = path.join(server.dir, 'files');
});
afterAll(async () => {
  await server?.close();
});

const dataOf = (uploadPath: string) => readFile(path.join(filesDir, idOf(uploadPath)));

/** A body that sends `first` and then neither ends nor sends more: only a server that answers
 * from the headers alone can respond. */
function stalledBody(first: Buffer): Readable {
  const stream = new Readable({ read() {} });
  stream.push(first);
  return stream;
}

function expectChunkTooLarge(response: RawResponse) {
  expect(response.status).toBe(413);
  const error = errorOf(response);
  expect(error.code).toBe('TUSPORT_ERR_CHUNK_TOO_LARGE');
  expect(error.message).toMatch(/maxChunkSize of 1000 bytes/);
}

/** `data` split into pieces of `size` bytes (the last may be shorter). */
function pieces(data: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; i += size) out.push(data.subarray(i, i + size));
  return out;
}

describe('maxChunkSize', () => {
  it('PATCH announcing Content-Length maxChunkSize+1 → 413 at once, without waiting for the body; offset unchanged', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 5000 });
    const body = stalledBody(randomBytes(10));
    // The body never ends, so any answer at all was decided from the headers alone; `within`
    // only turns a hang into a clear failure.
    const response = await within(
      30_000,
      raw(server.url, {
        method: 'PATCH',
        path: uploadPath,
        headers: { ...TUS, 'Content-Type': OCTET, 'Upload-Offset': '0', 'Content-Length': String(MAX_CHUNK + 1) },
        body,
      }),
    ).finally(() => body.destroy());
    expectChunkTooLarge(response);
    expect(response.headers.connection).toBe('close');
    expect(await headOffset(server.url, uploadPath)).toBe(0);
    expect((await dataOf(uploadPath)).length).toBe(0);
  });

  it('PATCH of exactly maxChunkSize bytes → 204', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 5000 });
    const data = randomBytes(MAX_CHUNK);
    const response = await patch(server.url, uploadPath, 0, data);
    expect(response.status).toBe(204);
    expect(response.headers['upload-offset']).toBe(String(MAX_CHUNK));
    expect(await dataOf(uploadPath)).toEqual(data);
  });

  it.each([
    ['pieces of 300 bytes (the limit falls inside a piece)', 300],
    ['pieces of 1000 bytes (the limit falls on a boundary)', 1000],
    ['one 5000-byte piece', 5000],
  ])('chunked PATCH of 5000 bytes in %s → 413 keeping exactly the first 1000; resumable to a sha256-identical file', async (_label, pieceSize) => {
    const data = randomBytes(5000);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const response = await patch(server.url, uploadPath, 0, Readable.from(pieces(data, pieceSize)));
    expectChunkTooLarge(response);
    expect(response.headers['upload-offset']).toBe(String(MAX_CHUNK));
    expect(await headOffset(server.url, uploadPath)).toBe(MAX_CHUNK);
    expect(await dataOf(uploadPath)).toEqual(data.subarray(0, MAX_CHUNK));

    // Resume from where the server says, in chunks the server accepts.
    for (let offset = MAX_CHUNK; offset < data.length; offset += MAX_CHUNK) {
      const next = await patch(server.url, uploadPath, offset, data.subarray(offset, offset + MAX_CHUNK));
      expect(next.status).toBe(204);
      expect(next.headers['upload-offset']).toBe(String(offset + MAX_CHUNK));
    }
    expect(await sha256File(path.join(filesDir, idOf(uploadPath)))).toBe(sha256(data));
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-offset']).toBe('5000');
    expect(head.headers['upload-length']).toBe('5000');
  });

  it('POST creation-with-upload with a Content-Length over maxChunkSize → 413, nothing created', async () => {
    const before = await listTree(server.dir);
    const response = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': '5000', 'Content-Type': OCTET },
      body: randomBytes(MAX_CHUNK + 500),
    });
    expectChunkTooLarge(response);
    expect(response.headers.location).toBeUndefined();
    expect(await listTree(server.dir)).toEqual(before);
  });

  it('POST creation-with-upload announcing Content-Length maxChunkSize+1 but stalling → 413 at once, nothing created', async () => {
    const before = await listTree(server.dir);
    const body = stalledBody(randomBytes(10));
    const response = await within(
      30_000,
      raw(server.url, {
        method: 'POST',
        path: '/files',
        headers: { ...TUS, 'Upload-Length': '5000', 'Content-Type': OCTET, 'Content-Length': String(MAX_CHUNK + 1) },
        body,
      }),
    ).finally(() => body.destroy());
    expectChunkTooLarge(response);
    expect(await listTree(server.dir)).toEqual(before);
  });

  it('POST creation-with-upload of exactly maxChunkSize bytes → 201 with Upload-Offset 1000', async () => {
    const data = randomBytes(MAX_CHUNK);
    const response = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': '3000', 'Content-Type': OCTET },
      body: data,
    });
    expect(response.status).toBe(201);
    expect(response.headers['upload-offset']).toBe(String(MAX_CHUNK));
    const uploadPath = new URL(String(response.headers.location)).pathname;
    expect(await dataOf(uploadPath)).toEqual(data);
  });

  it('POST creation-with-upload with a chunked body over maxChunkSize → 413, and no unreachable upload is left', async () => {
    const before = await listTree(server.dir);
    const response = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': '5000', 'Content-Type': OCTET },
      body: Readable.from(pieces(randomBytes(5000), 500)),
    });
    expect(response.status).toBe(413);
    expect(response.body).toMatch(/maxChunkSize of 1000 bytes/);
    expect(response.headers.location).toBeUndefined();
    // The client never learnt a URL for it, so nothing of it may stay behind.
    expect(await listTree(server.dir)).toEqual(before);
  });

  it('tus-js-client with chunkSize = maxChunkSize succeeds, sha256-identical', async () => {
    const data = randomBytes(3500);
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: MAX_CHUNK });
    expect(sha256(await dataOf(new URL(url).pathname))).toBe(sha256(data));
  });

  it('tus-js-client with chunkSize = maxChunkSize + 1 fails with an error that mentions 413', async () => {
    const data = randomBytes(3500);
    const outcome = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: MAX_CHUNK + 1 }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(outcome).toBeInstanceOf(Error);
    expect(outcome?.message).toMatch(/response code: 413/);
    expect(outcome?.message).toMatch(/maxChunkSize/);
  });
});

describe('maxSize', () => {
  it('OPTIONS advertises Tus-Max-Size', async () => {
    const response = await raw(server.url, { method: 'OPTIONS', path: '/files' });
    expect(response.status).toBe(204);
    expect(response.headers['tus-max-size']).toBe(String(MAX_SIZE));
    expect(response.headers['tus-version']).toBe('1.0.0');
  });

  it('Upload-Length over maxSize at creation → 413, nothing created', async () => {
    const before = await listTree(server.dir);
    const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': String(MAX_SIZE + 1) } });
    expect(response.status).toBe(413);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_UPLOAD_TOO_LARGE', message: expect.stringContaining(`maxSize of ${MAX_SIZE} bytes`) });
    expect(await listTree(server.dir)).toEqual(before);
  });

  it('a deferred-length upload whose declared final length exceeds maxSize → 413, nothing changes', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Defer-Length': '1' });
    const first = randomBytes(MAX_CHUNK);
    expect((await patch(server.url, uploadPath, 0, first)).status).toBe(204);
    const sidecarBefore = await readFile(path.join(filesDir, `${idOf(uploadPath)}.json`), 'utf8');

    const response = await patch(server.url, uploadPath, MAX_CHUNK, randomBytes(500), { 'Upload-Length': String(MAX_SIZE + 1) });
    expect(response.status).toBe(413);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_UPLOAD_TOO_LARGE' });
    expect(errorOf(response).message).toMatch(/10001 exceeds this endpoint's maxSize of 10000/);

    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-offset']).toBe(String(MAX_CHUNK));
    expect(head.headers['upload-defer-length']).toBe('1');
    expect(await dataOf(uploadPath)).toEqual(first);
    expect(await readFile(path.join(filesDir, `${idOf(uploadPath)}.json`), 'utf8')).toBe(sidecarBefore);
  });

  it('tus-js-client, deferred length, a stream longer than maxSize → fails with 413', async () => {
    const data = randomBytes(MAX_SIZE + 500);
    // Not object mode: tus-js-client reads `chunkSize` bytes at a time with read(size), which an
    // object-mode stream (Readable.from's default) ignores, handing over whole pieces instead.
    let lastPatch = '';
    const outcome = await tusUpload(Readable.from(pieces(data, 4096), { objectMode: false }), {
      onBeforeRequest: (request) => {
        if (request.getMethod() === 'PATCH') lastPatch = `${request.getHeader('Upload-Offset')}/${request.getHeader('Upload-Length') ?? ''}`;
      },
      endpoint: `${server.url}/files`,
      uploadLengthDeferred: true,
      chunkSize: MAX_CHUNK,
    }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(outcome).toBeInstanceOf(Error);
    expect(outcome?.message).toMatch(/response code: 413/);
    // It got as far as maxSize in accepted chunks, and the last PATCH, declaring the real length, was refused.
    expect(outcome?.message).toMatch(/TUSPORT_ERR_UPLOAD_TOO_LARGE/);
    expect(lastPatch).toBe(`${MAX_SIZE}/${MAX_SIZE + 500}`);
  });

  it('a deferred-length upload sent past maxSize without declaring a length → 413, bytes past the limit undone', async () => {
    const data = randomBytes(MAX_SIZE);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Defer-Length': '1' });
    for (let offset = 0; offset < MAX_SIZE - 500; offset += MAX_CHUNK) {
      const size = Math.min(MAX_CHUNK, MAX_SIZE - 500 - offset);
      expect((await patch(server.url, uploadPath, offset, data.subarray(offset, offset + size))).status).toBe(204);
    }
    expect(await headOffset(server.url, uploadPath)).toBe(MAX_SIZE - 500);
    // 800 more bytes, chunked: 300 past what maxSize allows.
    const response = await patch(server.url, uploadPath, MAX_SIZE - 500, Readable.from(pieces(randomBytes(800), 200)));
    expect(response.status).toBe(413);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_PAST_MAX_SIZE', message: expect.stringContaining(`maxSize of ${MAX_SIZE} bytes`) });
    expect(await headOffset(server.url, uploadPath)).toBe(MAX_SIZE - 500);
    expect(await dataOf(uploadPath)).toEqual(data.subarray(0, MAX_SIZE - 500));
    // With a Content-Length it is refused before reading.
    const announced = await patch(server.url, uploadPath, MAX_SIZE - 500, randomBytes(501));
    expect(announced.status).toBe(413);
    expect(await headOffset(server.url, uploadPath)).toBe(MAX_SIZE - 500);
    // Declaring exactly maxSize and sending the rest finishes it.
    const last = await patch(server.url, uploadPath, MAX_SIZE - 500, data.subarray(MAX_SIZE - 500), { 'Upload-Length': String(MAX_SIZE) });
    expect(last.status).toBe(204);
    expect(sha256(await dataOf(uploadPath))).toBe(sha256(data));
  });
});
