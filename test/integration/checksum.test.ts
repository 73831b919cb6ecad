import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALGORITHMS, checksumHeader, wrongChecksum } from '../helpers/checksum.js';
import { idOf, listTree, sha256, sizeOf } from '../helpers/files.js';
import { createUpload, errorOf, headOffset, patch, raw, type RawRequest, type RawResponse, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';

let server: RunningTusport;

beforeAll(async () => {
  server = await startTusport((dir) => ({
    endpoints: [
      { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } },
      { path: '/small', store: { type: 'disk', directory: path.join(dir, 'small') }, maxChunkSize: 1000 },
    ],
  }));
});
afterAll(async () => {
  await server?.close();
});

const dataFile = (uploadPath: string) => path.join(server.dir, uploadPath.split('/')[1]!, idOf(uploadPath));

/** The upload as the store has it: HEAD's offset and the data file's bytes. */
async function storeState(uploadPath: string) {
  return { offset: await headOffset(server.url, uploadPath), bytes: sha256(await readFile(dataFile(uploadPath))), size: await sizeOf(dataFile(uploadPath)) };
}

function expectRefused(response: RawResponse, status: number, code: string) {
  expect(response.status).toBe(status);
  expect(errorOf(response).code).toBe(code);
}

describe('checksum: discovery', () => {
  it('OPTIONS names the extensions and every algorithm', async () => {
    const response = await raw(server.url, { method: 'OPTIONS', path: '/files', headers: TUS });
    expect(response.status).toBe(204);
    expect(String(response.headers['tus-extension']).split(',')).toEqual(expect.arrayContaining(['checksum', 'checksum-trailer']));
    expect(String(response.headers['tus-checksum-algorithm']).split(',').sort()).toEqual([...ALGORITHMS].sort());
    // On an upload URL too.
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 1 });
    const onUpload = await raw(server.url, { method: 'OPTIONS', path: upload, headers: TUS });
    expect(onUpload.headers['tus-checksum-algorithm']).toBe(response.headers['tus-checksum-algorithm']);
  });
});

describe('checksum: Upload-Checksum on PATCH (disk)', () => {
  it.each(ALGORITHMS)('%s: right is 204; wrong is 460 and keeps nothing; the upload then resumes byte-identical', async (algorithm) => {
    const data = randomBytes(3000);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const first = data.subarray(0, 1000);
    const ok = await patch(server.url, upload, 0, first, { 'Upload-Checksum': checksumHeader(algorithm, first) });
    expect(ok.status).toBe(204);
    expect(ok.headers['upload-offset']).toBe('1000');

    const before = await storeState(upload);
    const rest = data.subarray(1000);
    const bad = await patch(server.url, upload, 1000, rest, { 'Upload-Checksum': wrongChecksum(algorithm, rest) });
    expectRefused(bad, 460, 'TUSPORT_ERR_CHECKSUM_MISMATCH');
    expect(JSON.parse(bad.body).error).toBe('Checksum Mismatch');
    expect(errorOf(bad).message).toContain(algorithm);
    expect(await storeState(upload)).toEqual(before);
    expect(before).toMatchObject({ offset: 1000, size: 1000, bytes: sha256(first) });

    const good = await patch(server.url, upload, 1000, rest, { 'Upload-Checksum': checksumHeader(algorithm, rest) });
    expect(good.status).toBe(204);
    expect(good.headers['upload-offset']).toBe(String(data.length));
    const download = await raw(server.url, { method: 'GET', path: upload, headers: TUS });
    expect(sha256(download.bytes)).toBe(sha256(data));
  });

  it('known vectors: the spec\'s sha1 example and crc32 as 4 bytes big-endian', async () => {
    const hello = Buffer.from('hello world');
    for (const header of ['sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=', 'crc32 DUoRhQ==', 'md5 XrY7u+Ae7tCTyyK7j1rNww==']) {
      const upload = await createUpload(server.url, '/files', { 'Upload-Length': hello.length });
      const response = await patch(server.url, upload, 0, hello, { 'Upload-Checksum': header });
      expect(response.status, header).toBe(204);
      expect(response.headers['upload-offset']).toBe('11');
    }
  });

  it.each([
    ['an unknown algorithm', 'sha3 Kq5sNclPz7QV2+lfQIuc6R7oRu0=', 'TUSPORT_ERR_CHECKSUM_ALGORITHM'],
    ['an unknown algorithm with odd characters', 'bl@ke2 AAAA', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['no digest', 'sha1', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['an empty value', '', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['not base64', 'sha1 !!!!not-base64!!!!', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['a digest of the wrong length', 'sha1 AAAA', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['missing padding', 'sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['hex instead of base64', 'sha1 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed', 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['two checksums', ['sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=', 'md5 XrY7u+Ae7tCTyyK7j1rNww=='], 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['a very long value', `sha1 ${'A'.repeat(6000)}`, 'TUSPORT_ERR_INVALID_CHECKSUM'],
  ])('%s is 400 before any byte is stored', async (_name, header, code) => {
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 11 });
    const response = await raw(server.url, {
      method: 'PATCH',
      path: upload,
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', 'Upload-Checksum': header },
      body: 'hello world',
    });
    expectRefused(response, 400, code);
    expect(await storeState(upload)).toMatchObject({ offset: 0, size: 0 });
    // The upload is fine: the same bytes with a right checksum go in.
    const ok = await patch(server.url, upload, 0, 'hello world', { 'Upload-Checksum': 'sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=' });
    expect(ok.status).toBe(204);
  });

  it('a checksummed body cut at maxChunkSize keeps nothing (413; unverifiable), where an unchecked one keeps its head', async () => {
    const data = randomBytes(1500);
    const chunked = () => Readable.from([data.subarray(0, 700), data.subarray(700)]);
    const checked = await createUpload(server.url, '/small', { 'Upload-Length': data.length });
    const refused = await patch(server.url, checked, 0, chunked(), { 'Upload-Checksum': checksumHeader('sha256', data) });
    expectRefused(refused, 413, 'TUSPORT_ERR_CHUNK_TOO_LARGE');
    expect(refused.headers['upload-offset']).toBe('0');
    expect(await storeState(checked)).toMatchObject({ offset: 0, size: 0 });
    // The same without a checksum: the first 1000 bytes are good and stay (the contrast that shows
    // the rule above is the checksum's, not the limit's).
    const unchecked = await createUpload(server.url, '/small', { 'Upload-Length': data.length });
    const cut = await patch(server.url, unchecked, 0, chunked());
    expect(cut.status).toBe(413);
    expect(await headOffset(server.url, unchecked)).toBe(1000);
  });

  it('a client gone mid-body: nothing of its checksummed bytes counts', async () => {
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 1_000_000 });
    const request = http.request(`${server.url}${upload}`, {
      method: 'PATCH',
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', 'Content-Length': '1000000', 'Upload-Checksum': checksumHeader('sha1', Buffer.alloc(1)) },
    });
    request.on('error', () => undefined);
    request.write(randomBytes(200_000));
    // The bytes have reached the data file (hashed on their way): now the client vanishes.
    await until(async () => ((await sizeOf(dataFile(upload))) ?? 0) > 0, 'the first bytes on disk');
    request.destroy();
    // HEAD waits for the PATCH's lock, so it reads what the PATCH left.
    expect(await headOffset(server.url, upload)).toBe(0);
    expect(await sizeOf(dataFile(upload))).toBe(0);
  });
});

describe('checksum on creation-with-upload (disk)', () => {
  const create = (body: RawRequest['body'], headers: Record<string, string>) =>
    raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '2000', 'Content-Type': 'application/offset+octet-stream', ...headers }, body });

  it('a right checksum creates the upload with its first bytes', async () => {
    const data = randomBytes(1200);
    const response = await create(data, { 'Upload-Checksum': checksumHeader('sha512', data) });
    expect(response.status).toBe(201);
    expect(response.headers['upload-offset']).toBe('1200');
    const upload = new URL(String(response.headers.location)).pathname;
    expect(sha256(await readFile(dataFile(upload)))).toBe(sha256(data));
  });

  it.each([
    ['a wrong checksum', (data: Buffer) => ({ 'Upload-Checksum': wrongChecksum('sha1', data) }), 460, 'TUSPORT_ERR_CHECKSUM_MISMATCH'],
    ['an unknown algorithm', () => ({ 'Upload-Checksum': 'blake3 AAAA' }), 400, 'TUSPORT_ERR_CHECKSUM_ALGORITHM'],
    ['a malformed checksum', () => ({ 'Upload-Checksum': 'sha1 AAAA' }), 400, 'TUSPORT_ERR_INVALID_CHECKSUM'],
  ])('%s refuses the creation and leaves nothing behind', async (_name, headers, status, code) => {
    const data = randomBytes(1200);
    const before = await listTree(path.join(server.dir, 'files'));
    const response = await create(data, headers(data));
    expectRefused(response, status, code);
    expect(response.headers.location).toBeUndefined();
    expect(await listTree(path.join(server.dir, 'files'))).toEqual(before);
  });

  it('the checksum as a trailer: right creates, wrong is 460 with nothing left', async () => {
    const data = randomBytes(1500);
    const body = () => Readable.from([data.subarray(0, 500), data.subarray(500)]);
    const before = await listTree(path.join(server.dir, 'files'));
    // Announced, never sent.
    expectRefused(await create(body(), { Trailer: 'Upload-Checksum' }), 400, 'TUSPORT_ERR_INVALID_CHECKSUM');
    const withTrailer = (checksum: string) =>
      raw(server.url, {
        method: 'POST',
        path: '/files',
        headers: { ...TUS, 'Upload-Length': '2000', 'Content-Type': 'application/offset+octet-stream', Trailer: 'Upload-Checksum' },
        body: body(),
        trailers: { 'Upload-Checksum': checksum },
      });
    const wrong = await withTrailer(wrongChecksum('md5', data));
    expectRefused(wrong, 460, 'TUSPORT_ERR_CHECKSUM_MISMATCH');
    expect(await listTree(path.join(server.dir, 'files'))).toEqual(before);
    const right = await withTrailer(checksumHeader('md5', data));
    expect(right.status).toBe(201);
    expect(right.headers['upload-offset']).toBe('1500');
  });
});

describe('checksum-trailer (disk)', () => {
  const body = (data: Buffer) => Readable.from([data.subarray(0, 600), data.subarray(600)]);
  const withTrailer = { Trailer: 'Upload-Checksum' };

  it('a right trailer is 204; a wrong one 460 with nothing kept; then it resumes', async () => {
    const data = randomBytes(2000);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const first = data.subarray(0, 1000);
    const ok = await raw(server.url, { method: 'PATCH', path: upload, headers: patchHeaders(0, withTrailer), body: body(first), trailers: { 'Upload-Checksum': checksumHeader('sha256', first) } });
    expect(ok.status).toBe(204);
    expect(ok.headers['upload-offset']).toBe('1000');
    const before = await storeState(upload);
    const rest = data.subarray(1000);
    const bad = await raw(server.url, { method: 'PATCH', path: upload, headers: patchHeaders(1000, withTrailer), body: body(rest), trailers: { 'Upload-Checksum': wrongChecksum('crc32', rest) } });
    expectRefused(bad, 460, 'TUSPORT_ERR_CHECKSUM_MISMATCH');
    expect(await storeState(upload)).toEqual(before);
    const good = await raw(server.url, { method: 'PATCH', path: upload, headers: patchHeaders(1000, withTrailer), body: body(rest), trailers: { 'Upload-Checksum': checksumHeader('sha512', rest) } });
    expect(good.status).toBe(204);
    expect(sha256(await readFile(dataFile(upload)))).toBe(sha256(data));
  });

  it.each([
    ['an announced trailer that never comes', withTrailer, undefined, 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['an unknown algorithm in the trailer', withTrailer, { 'Upload-Checksum': 'whirlpool AAAA' }, 'TUSPORT_ERR_CHECKSUM_ALGORITHM'],
    ['a malformed trailer', withTrailer, { 'Upload-Checksum': 'sha1 nope' }, 'TUSPORT_ERR_INVALID_CHECKSUM'],
    ['a header and a trailer', { ...withTrailer, 'Upload-Checksum': 'sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=' }, { 'Upload-Checksum': 'sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0=' }, 'TUSPORT_ERR_INVALID_CHECKSUM'],
  ])('%s is 400 and keeps nothing', async (_name, headers, trailers, code) => {
    const data = randomBytes(1000);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const response = await raw(server.url, { method: 'PATCH', path: upload, headers: patchHeaders(0, headers), body: body(data), ...(trailers ? { trailers } : {}) });
    expectRefused(response, 400, code);
    expect(await storeState(upload)).toMatchObject({ offset: 0, size: 0 });
  });

  it('a trailer announced on a body with Content-Length (no trailers possible) is 400', async () => {
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 11 });
    // Written by hand: Node's client refuses to send this combination.
    const head = [`PATCH ${upload} HTTP/1.1`, `Host: 127.0.0.1`, 'Tus-Resumable: 1.0.0', 'Content-Type: application/offset+octet-stream', 'Upload-Offset: 0', 'Trailer: Upload-Checksum', 'Content-Length: 11', 'Connection: close'];
    const answer = await rawExchange(`${head.join('\r\n')}\r\n\r\nhello world`);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(answer).toContain('TUSPORT_ERR_INVALID_CHECKSUM');
    expect(answer).toContain('chunked');
    expect(await storeState(upload)).toMatchObject({ offset: 0, size: 0 });
  });
});

function patchHeaders(offset: number, extra: Record<string, string>): Record<string, string> {
  return { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), ...extra };
}

/** Send `request` as written on a fresh connection; the whole answer as text. */
function rawExchange(request: string): Promise<string> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.end(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
