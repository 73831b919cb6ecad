import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree } from '../helpers/files.js';
import { within } from '../helpers/wait.js';
import { createUpload, errorOf, headOffset, patch, type RawRequest, type RawResponse, raw, TUS } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Every bad input gets the exact status, a message naming the problem, and no side effect: no
 * offset moves, no file or directory appears, changes or disappears anywhere in the server's
 * temp dir (which holds the stores and a sentinel file beside them).
 */

const MAX_SIZE = 1000;
const SECRET = 'TOP SECRET: must never be served or touched';
const OCTET = 'application/offset+octet-stream';

let server: RunningTusport;
let filesDir: string;
let usersDir: string;

beforeAll(async () => {
  server = await startTusport((dir) => {
    const files = filesEndpoint(dir, { maxSize: MAX_SIZE });
    return {
      endpoints: [
        ...(files.endpoints ?? []),
        { path: '/users/{username}/uploads', store: { type: 'disk', directory: path.join(dir, 'users', '{username}') } },
      ],
    };
  });
  filesDir = path.join(server.dir, 'files');
  usersDir = path.join(server.dir, 'users');
  await mkdir(filesDir, { recursive: true });
  await mkdir(usersDir, { recursive: true });
  // A sentinel beside the store, shaped like a finished upload, that traversal would reach.
  await writeFile(path.join(server.dir, 'secret'), SECRET);
  await writeFile(
    path.join(server.dir, 'secret.json'),
    JSON.stringify({
      id: '../secret',
      size: SECRET.length,
      offset: 0,
      creation_date: new Date().toISOString(),
      tusport: { version: 1, endpoint: '/files', params: {}, owner: null, completed_at: new Date().toISOString() },
    }),
  );
});
afterAll(async () => {
  await server?.close();
});

// ---------------------------------------------------------------------------------------------
// Helpers

/** Bad input never yields a server error: every answer in this file is checked on arrival. */
function noServerError(what: string, response: RawResponse): RawResponse {
  expect(response.status, `${what}: ${response.body.slice(0, 200)}`).toBeGreaterThanOrEqual(200);
  expect(response.status, `${what}: ${response.body.slice(0, 200)}`).toBeLessThan(500);
  return response;
}

/** `raw` against the server; fails at once on a 5xx. */
async function send(request: RawRequest): Promise<RawResponse> {
  return noServerError(`${request.method} ${request.path.slice(0, 80)}`, await raw(server.url, request));
}

async function sendPatch(uploadPath: string, offset: number | string, body: RawRequest['body'], headers: Record<string, string> = {}) {
  return noServerError(`PATCH ${uploadPath}`, await patch(server.url, uploadPath, 0, body, { 'Upload-Offset': String(offset), ...headers }));
}

/**
 * Everything below the server's temp dir: directories, and files with content hash, inode and
 * (unless `bytesOnly`) modification time, so even a rewrite with identical bytes shows.
 */
async function snapshot(bytesOnly = false): Promise<Record<string, string>> {
  const state: Record<string, string> = {};
  const entries = await readdir(server.dir, { recursive: true, withFileTypes: true });
  for (const entry of entries) {
    const full = path.join(entry.parentPath, entry.name);
    const rel = path.relative(server.dir, full);
    if (entry.isDirectory()) state[rel] = 'dir';
    else {
      const info = await stat(full);
      const hash = createHash('sha256')
        .update(await readFile(full))
        .digest('hex');
      state[rel] = `file size=${info.size} ino=${info.ino} sha=${hash}${bytesOnly ? '' : ` mtime=${info.mtimeMs}`}`;
    }
  }
  // listTree is the shared notion of "files in a store": check it agrees for both stores too.
  state['<files listTree>'] = JSON.stringify(await listTree(filesDir));
  state['<users listTree>'] = JSON.stringify(await listTree(usersDir));
  return state;
}

/**
 * Run `action` and assert nothing below the temp dir changed. `bytesOnly` is for requests whose
 * bytes the server accepts and then undoes (it truncates back): the file's mtime moves, its
 * identity, size and contents must not.
 */
async function noSideEffect<T>(action: () => Promise<T>, { bytesOnly = false } = {}): Promise<T> {
  const before = await snapshot(bytesOnly);
  const result = await action();
  expect(await snapshot(bytesOnly)).toEqual(before);
  return result;
}

async function newUpload(headers: Record<string, string | number> = { 'Upload-Length': 100 }): Promise<string> {
  return createUpload(server.url, '/files', headers);
}

/** An upload of length 100 with `bytes` already received. */
async function partialUpload(bytes: Buffer): Promise<string> {
  const uploadPath = await newUpload();
  const response = await sendPatch(uploadPath, 0, bytes);
  expect(response.status).toBe(204);
  return uploadPath;
}

function expectTusportError(response: RawResponse, status: number, code: string, mentions: RegExp) {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  const error = errorOf(response);
  expect(error).toMatchObject({ statusCode: status, code });
  expect(error.message).toMatch(mentions);
}

const MISSING_ID = '0123456789abcdef0123456789abcdef';
const METHODS = ['GET', 'HEAD', 'DELETE', 'PATCH'];

// ---------------------------------------------------------------------------------------------

describe('Tus-Resumable', () => {
  const variants: [string, Record<string, string>][] = [
    ['missing', {}],
    ['0.2.2', { 'Tus-Resumable': '0.2.2' }],
  ];

  it.each(variants)('POST with Tus-Resumable %s → 412 with Tus-Version, nothing created', async (_label, tusHeader) => {
    const response = await noSideEffect(() => send({ method: 'POST', path: '/files', headers: { ...tusHeader, 'Upload-Length': '10' } }));
    expectTusportError(response, 412, 'TUSPORT_ERR_TUS_RESUMABLE', /Tus-Resumable/);
    expect(response.headers['tus-version']).toBe('1.0.0');
    expect(response.headers.location).toBeUndefined();
  });

  it.each(variants)('HEAD with Tus-Resumable %s → 412 with Tus-Version', async (_label, tusHeader) => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() => send({ method: 'HEAD', path: uploadPath, headers: tusHeader }));
    expect(response.status).toBe(412);
    expect(response.headers['tus-version']).toBe('1.0.0');
    expect(response.headers['upload-offset']).toBeUndefined();
  });

  it.each(variants)('PATCH with Tus-Resumable %s → 412, offset and bytes unchanged', async (_label, tusHeader) => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() =>
      send({ method: 'PATCH', path: uploadPath, headers: { ...tusHeader, 'Content-Type': OCTET, 'Upload-Offset': '10' }, body: Buffer.from('abcdef') }),
    );
    expectTusportError(response, 412, 'TUSPORT_ERR_TUS_RESUMABLE', /Tus-Resumable.*1\.0\.0/);
    expect(response.headers['tus-version']).toBe('1.0.0');
    expect(await headOffset(server.url, uploadPath)).toBe(10);
  });

  it.each(variants)('DELETE with Tus-Resumable %s → 412, the upload is not deleted', async (_label, tusHeader) => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() => send({ method: 'DELETE', path: uploadPath, headers: tusHeader }));
    expectTusportError(response, 412, 'TUSPORT_ERR_TUS_RESUMABLE', /Tus-Resumable/);
    expect(response.headers['tus-version']).toBe('1.0.0');
    expect(await headOffset(server.url, uploadPath)).toBe(10);
  });
});

describe('Upload-Length / Upload-Offset that are not plain non-negative integers', () => {
  const bad: [string, string | string[]][] = [
    ['abc', 'abc'],
    ['1e3', '1e3'],
    ['-1', '-1'],
    ['+5', '+5'],
    ['2^53+1', '9007199254740993'],
    ['2^53', '9007199254740992'],
    ['30 digits', '123456789012345678901234567890'],
    ['empty', ''],
    ['0x10', '0x10'],
    ['leading zero', '05'],
    ['5.0', '5.0'],
    ['inner space', '5 5'],
    ['sent twice', ['5', '5']],
  ];

  it.each(bad)('POST Upload-Length %s → 400, nothing created', async (_label, value) => {
    const response = await noSideEffect(() => send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': value } }));
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Length/);
    expect(response.headers.location).toBeUndefined();
  });

  it.each(bad)('PATCH Upload-Offset %s → 400, offset and bytes unchanged', async (_label, value) => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() =>
      send({ method: 'PATCH', path: uploadPath, headers: { ...TUS, 'Content-Type': OCTET, 'Upload-Offset': value }, body: Buffer.from('abcdef') }),
    );
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Offset/);
    expect(await headOffset(server.url, uploadPath)).toBe(10);
  });

  it('PATCH without Upload-Offset → 400 naming the header', async () => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() =>
      send({ method: 'PATCH', path: uploadPath, headers: { ...TUS, 'Content-Type': OCTET }, body: Buffer.from('abcdef') }),
    );
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Offset.*missing/);
    expect(await headOffset(server.url, uploadPath)).toBe(10);
  });

  it('PATCH Upload-Length abc on a deferred upload → 400, length stays deferred', async () => {
    const uploadPath = await newUpload({ 'Upload-Defer-Length': '1' });
    const response = await noSideEffect(() => sendPatch(uploadPath, 0, Buffer.from('abc'), { 'Upload-Length': 'abc' }));
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Length/);
    const head = await send({ method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-defer-length']).toBe('1');
    expect(head.headers['upload-offset']).toBe('0');
  });

  // HTTP (RFC 9110 §5.5) defines leading/trailing whitespace as not part of a field value, and
  // Node's parser strips it before any application code runs: " 5" arrives as "5". tusport cannot
  // tell the two apart, so the best it can do is treat them identically. See the report.
  it('a leading space (" 5") is optional whitespace in HTTP: it is read as "5", never as something else', async () => {
    const created = await send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': ' 5' } });
    expect(created.status).toBe(201);
    const uploadPath = new URL(String(created.headers.location)).pathname;
    const head = await send({ method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-length']).toBe('5');
    const patched = await sendPatch(uploadPath, ' 0', Buffer.from('abcde'));
    expect(patched.status).toBe(204);
    expect(await readFile(path.join(filesDir, idOf(uploadPath)), 'utf8')).toBe('abcde');
  });
});

describe('sizes', () => {
  it('Upload-Length over maxSize → 413 at creation, nothing created', async () => {
    const response = await noSideEffect(() => send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': String(MAX_SIZE + 1) } }));
    expect(response.status).toBe(413);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_UPLOAD_TOO_LARGE');
    expect(errorOf(response).message).toContain(`maxSize of ${MAX_SIZE} bytes`);
    expect(response.headers.location).toBeUndefined();
  });

  it('Upload-Length exactly maxSize is accepted (the limit is inclusive)', async () => {
    const response = await send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': String(MAX_SIZE) } });
    expect(response.status).toBe(201);
  });
});

describe('PATCH Content-Type', () => {
  it.each([
    ['text/plain', { 'Content-Type': 'text/plain' }],
    ['application/octet-stream', { 'Content-Type': 'application/octet-stream' }],
    ['missing', {}],
  ] as [string, Record<string, string>][])('Content-Type %s → 415, offset and bytes unchanged', async (_label, contentType) => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() =>
      send({ method: 'PATCH', path: uploadPath, headers: { ...TUS, 'Upload-Offset': '10', ...contentType }, body: Buffer.from('abcdef') }),
    );
    expectTusportError(response, 415, 'TUSPORT_ERR_CONTENT_TYPE', /Content-Type: application\/offset\+octet-stream/);
    expect(await headOffset(server.url, uploadPath)).toBe(10);
  });
});

describe('PATCH offsets and lengths', () => {
  it.each([0, 5, 11, 100])('Upload-Offset %i when the upload is at 10 → 409, offset and bytes unchanged', async (offset) => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() => sendPatch(uploadPath, offset, Buffer.from('abcdef')));
    expectTusportError(response, 409, 'TUSPORT_ERR_OFFSET_MISMATCH', new RegExp(`${offset}.*10`));
    expect(response.headers['upload-offset']).toBe('10');
    expect(await headOffset(server.url, uploadPath)).toBe(10);
    expect(await readFile(path.join(filesDir, idOf(uploadPath)), 'utf8')).toBe('0123456789');
  });

  it('data past Upload-Length with a Content-Length → 413 before reading, offset and bytes unchanged', async () => {
    const uploadPath = await partialUpload(Buffer.alloc(50, 'a'));
    // Announce 51 bytes, send 10 and stall: only an answer from the headers alone can arrive.
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(10, 'b'));
    // The body never ends: any answer was decided from the headers (`within` turns a hang into a failure).
    const response = await noSideEffect(() =>
      within(30_000, sendPatch(uploadPath, 50, body, { 'Content-Length': '51' }), 'answer before the body ends').finally(() => body.destroy()),
    );
    expectTusportError(response, 413, 'TUSPORT_ERR_PAST_UPLOAD_LENGTH', /Upload-Length.*50 bytes remain/);
    expect(await headOffset(server.url, uploadPath)).toBe(50);
  });

  it('data past Upload-Length in a chunked body → 413, the server truncates back: offset and bytes unchanged', async () => {
    const uploadPath = await partialUpload(Buffer.alloc(50, 'a'));
    const chunks = [Buffer.alloc(30, 'b'), Buffer.alloc(30, 'c'), Buffer.alloc(30, 'd')];
    const response = await noSideEffect(() => sendPatch(uploadPath, 50, Readable.from(chunks)), { bytesOnly: true });
    expectTusportError(response, 413, 'TUSPORT_ERR_PAST_UPLOAD_LENGTH', /Upload-Length/);
    expect(response.headers['transfer-encoding']).toBeUndefined();
    expect(await headOffset(server.url, uploadPath)).toBe(50);
    expect(await readFile(path.join(filesDir, idOf(uploadPath)))).toEqual(Buffer.alloc(50, 'a'));
    // The upload is still good: the right bytes finish it.
    const finish = await sendPatch(uploadPath, 50, Buffer.alloc(50, 'z'));
    expect(finish.status).toBe(204);
    expect(finish.headers['upload-offset']).toBe('100');
  });

  it('data sent to a finished upload (chunked) → 413, nothing appended', async () => {
    const uploadPath = await partialUpload(Buffer.alloc(100, 'f'));
    const response = await noSideEffect(() => sendPatch(uploadPath, 100, Readable.from([Buffer.from('more')])), { bytesOnly: true });
    expectTusportError(response, 413, 'TUSPORT_ERR_PAST_UPLOAD_LENGTH', /Upload-Length/);
    expect(await headOffset(server.url, uploadPath)).toBe(100);
  });

  it('PATCH declaring Upload-Length when the length is already set → 400', async () => {
    const uploadPath = await partialUpload(Buffer.from('0123456789'));
    const response = await noSideEffect(() => sendPatch(uploadPath, 10, Buffer.from('abc'), { 'Upload-Length': '100' }));
    expectTusportError(response, 400, 'TUSPORT_ERR_LENGTH_ALREADY_SET', /Upload-Length is already set/);
    expect(await headOffset(server.url, uploadPath)).toBe(10);
  });

  it('PATCH declaring an Upload-Length smaller than the offset → 400, length stays deferred', async () => {
    const uploadPath = await newUpload({ 'Upload-Defer-Length': '1' });
    expect((await sendPatch(uploadPath, 0, Buffer.from('0123456789'))).status).toBe(204);
    const response = await noSideEffect(() => sendPatch(uploadPath, 10, Buffer.from('abc'), { 'Upload-Length': '5' }));
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Length.*5.*less than.*10/);
    const head = await send({ method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-offset']).toBe('10');
    expect(head.headers['upload-defer-length']).toBe('1');
    expect(head.headers['upload-length']).toBeUndefined();
  });

  it('PATCH declaring an Upload-Length over maxSize on a deferred upload → 413, length stays deferred', async () => {
    const uploadPath = await newUpload({ 'Upload-Defer-Length': '1' });
    const response = await noSideEffect(() => sendPatch(uploadPath, 0, Buffer.from('abc'), { 'Upload-Length': String(MAX_SIZE + 1) }));
    expectTusportError(response, 413, 'TUSPORT_ERR_UPLOAD_TOO_LARGE', new RegExp(`${MAX_SIZE + 1}.*maxSize.*${MAX_SIZE}`));
    const head = await send({ method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-defer-length']).toBe('1');
    expect(head.headers['upload-offset']).toBe('0');
  });
});

describe('Upload-Metadata', () => {
  it.each([
    ['value length not a multiple of 4', 'filename abc'],
    ['value not base64', 'filename !!!!'],
    ['duplicate keys', 'a YQ==,a YQ=='],
    // (A leading " YQ==" would not do: HTTP strips a value's leading whitespace, leaving the key "YQ==".)
    ['empty key', 'a YQ==, YQ=='],
    ['empty pair', 'a YQ==,,b YQ=='],
    ['non-ASCII key', 'fïlename YQ=='],
    ['key with too many parts', 'a YQ== YQ=='],
    ['only whitespace', '   '],
  ])('%s (%j) → 400, no upload created', async (_label, value) => {
    const response = await noSideEffect(() =>
      send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': value } }),
    );
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Metadata/);
    expect(response.headers.location).toBeUndefined();
  });

  it('a 9000-byte value (over the default 8 KiB maxMetadataSize) → 400, no upload created', async () => {
    const value = `filename ${Buffer.alloc(6750, 'x').toString('base64')}`;
    expect(Buffer.byteLength(value)).toBeGreaterThan(9000);
    const response = await noSideEffect(() =>
      send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': value } }),
    );
    expectTusportError(response, 400, 'TUSPORT_ERR_METADATA_TOO_LARGE', /Upload-Metadata is 9009 bytes; the limit is 8192/);
    expect(response.headers.location).toBeUndefined();
  });

  it('a filename of ../../etc/passwd is only data in the sidecar; the file is still <store>/<id>', async () => {
    const before = await listTree(server.dir);
    const filename = '../../etc/passwd';
    const metadata = `filename ${Buffer.from(filename).toString('base64')},filetype ${Buffer.from('text/plain').toString('base64')}`;
    const uploadPath = await newUpload({ 'Upload-Length': 5, 'Upload-Metadata': metadata });
    expect((await sendPatch(uploadPath, 0, Buffer.from('hello'))).status).toBe(204);
    const id = idOf(uploadPath);
    const added = (await listTree(server.dir)).filter((f) => !before.includes(f));
    expect(added.sort()).toEqual([`files/${id}`, `files/${id}.json`]);
    expect(await readFile(path.join(filesDir, id), 'utf8')).toBe('hello');
    const sidecar = JSON.parse(await readFile(path.join(filesDir, `${id}.json`), 'utf8'));
    expect(sidecar.metadata.filename).toBe(filename);
    // The download names it safely: its last path component only, quoted, percent-encoded.
    const get = await send({ method: 'GET', path: uploadPath });
    expect(get.status).toBe(200);
    expect(get.body).toBe('hello');
    expect(get.headers['content-disposition']).toBe(`inline; filename="passwd"; filename*=UTF-8''passwd`);
  });
});

describe('unknown and hostile upload ids', () => {
  it.each(['HEAD', 'PATCH', 'DELETE', 'GET'])('%s of an unknown id → 404', async (method) => {
    const headers: Record<string, string> = method === 'PATCH' ? { ...TUS, 'Content-Type': OCTET, 'Upload-Offset': '0' } : { ...TUS };
    const response = await noSideEffect(() =>
      send({ method, path: `/files/${MISSING_ID}`, headers, ...(method === 'PATCH' ? { body: Buffer.from('data') } : {}) }),
    );
    expect(response.status).toBe(404);
    // HEAD answers carry no body.
    if (method === 'HEAD') expect(response.body).toBe('');
    else expectTusportError(response, 404, 'TUSPORT_ERR_NOT_FOUND', /Upload not found/);
  });

  const hostileIds = [
    '..',
    '.',
    '..%2Fsecret',
    '%2e%2e%2Fsecret',
    '%2e%2e',
    '%2E%2E%2Fsecret',
    '..%5Csecret',
    '%5C..%5Csecret',
    'secret%00',
    '..%2Fsecret%00',
    '%00',
    'a'.repeat(200),
    'abc.json',
    '..%2Fsecret.json',
    '..%252Fsecret',
    '../secret',
    '..%2F..%2F..%2F..%2Fetc%2Fpasswd',
  ];
  const cases = hostileIds.flatMap((id) => METHODS.map((method) => [method, id] as const));

  it.each(cases)('%s /files/%s → 404, the sentinel beside the store is never read or touched', async (method, id) => {
    const headers: Record<string, string> = method === 'PATCH' ? { ...TUS, 'Content-Type': OCTET, 'Upload-Offset': '0' } : { ...TUS };
    const response = await noSideEffect(() =>
      send({ method, path: `/files/${id}`, headers, ...(method === 'PATCH' ? { body: Buffer.from('OVERWRITTEN') } : {}) }),
    );
    // An id is one opaque path segment: whatever it spells, it names no upload. A raw `../secret`
    // is two segments, so no endpoint route matches it at all.
    if (method === 'HEAD') {
      expect(response.status).toBe(404);
      expect(response.body).toBe('');
    } else if (id === '../secret') expectTusportError(response, 404, 'TUSPORT_ERR_ROUTE_NOT_FOUND', /No endpoint serves/);
    else expectTusportError(response, 404, 'TUSPORT_ERR_NOT_FOUND', /Upload not found/);
    expect(response.body).not.toContain('SECRET');
    expect(response.headers['upload-offset']).toBeUndefined();
    expect(await readFile(path.join(server.dir, 'secret'), 'utf8')).toBe(SECRET);
  });

  it('a real upload\'s sidecar is not reachable as <id>.json', async () => {
    const uploadPath = await partialUpload(Buffer.alloc(100, 'x'));
    for (const method of ['GET', 'HEAD', 'DELETE']) {
      const response = await noSideEffect(() => send({ method, path: `${uploadPath}.json`, headers: TUS }));
      expect(response.status).toBe(404);
      expect(response.body).not.toContain('tusport');
    }
    expect(await headOffset(server.url, uploadPath)).toBe(100);
  });
});

/** A name a traversal out of `<tmp>/users/{username}` would create two levels up, beside `<tmp>`. */
const ESCAPE_NAME = `tusport-escape-${process.pid}-${Date.now()}`;

/** Percent-encodings that do not decode to UTF-8: the router cannot even read the parameter. */
const NOT_UTF8 = new Set(['invalid UTF-8', 'lone surrogate']);

function expectBadUsername(response: RawResponse, label: string): void {
  if (NOT_UTF8.has(label)) expectTusportError(response, 400, 'TUSPORT_ERR_BAD_URL', /percent-encoded.*not UTF-8/);
  else expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_PARAM', /URL parameter 'username'/);
}

describe('templated endpoint /users/{username}/uploads', () => {
  /** Every directory and file below the temp dir, including empty directories. */
  async function allEntries(): Promise<string[]> {
    const entries = await readdir(server.dir, { recursive: true, withFileTypes: true });
    return entries.map((e) => `${e.isDirectory() ? 'd' : 'f'} ${path.relative(server.dir, path.join(e.parentPath, e.name))}`).sort();
  }

  const usernames: [string, string][] = [
    ['..', '..'],
    ['.', '.'],
    ['%2e%2e', '%2e%2e'],
    ['%2E%2E', '%2E%2E'],
    ['%2e', '%2e'],
    ['a%2Fb', 'a%2Fb'],
    ['..%2F..%2F<name>', `..%2F..%2F${ESCAPE_NAME}`],
    ['a%5Cb', 'a%5Cb'],
    ['a%00b', 'a%00b'],
    ['a%0Ab', 'a%0Ab'],
    ['300 bytes', 'u'.repeat(300)],
    ['150 two-byte characters', '%C3%A9'.repeat(150)],
    ['invalid UTF-8', 'a%FFb'],
    ['lone surrogate', '%ED%A0%80'],
  ];

  it.each(usernames)('POST with username %s → 400 in tusport\'s error format, no directory created anywhere', async (label, username) => {
    const before = await allEntries();
    const response = await noSideEffect(() =>
      send({ method: 'POST', path: `/users/${username}/uploads`, headers: { ...TUS, 'Upload-Length': '10' } }),
    );
    expectBadUsername(response, label);
    expect(response.headers['x-request-id']).toEqual(expect.any(String));
    expect(response.headers.location).toBeUndefined();
    expect(await allEntries()).toEqual(before);
    expect(existsSync(path.resolve(usersDir, '..', '..', ESCAPE_NAME))).toBe(false);
  });

  it('a username past the router\'s parameter limit (600 bytes) → 414 in tusport\'s error format', async () => {
    const response = await noSideEffect(() => send({ method: 'POST', path: `/users/${'u'.repeat(600)}/uploads`, headers: { ...TUS, 'Upload-Length': '10' } }));
    expectTusportError(response, 414, 'TUSPORT_ERR_URL_TOO_LONG', /too long/);
  });

  it.each(usernames)('HEAD/PATCH/DELETE/GET of an upload URL with username %s → 400, nothing touched', async (label, username) => {
    const before = await allEntries();
    for (const method of METHODS) {
      const headers: Record<string, string> = method === 'PATCH' ? { ...TUS, 'Content-Type': OCTET, 'Upload-Offset': '0' } : { ...TUS };
      const response = await noSideEffect(() =>
        send({
          method,
          path: `/users/${username}/uploads/${MISSING_ID}`,
          headers,
          ...(method === 'PATCH' ? { body: Buffer.from('data') } : {}),
        }),
      );
      if (method === 'HEAD') {
        expect(response.status, `${method} ${label}`).toBe(400);
        expect(response.body).toBe('');
      } else expectBadUsername(response, label);
    }
    expect(await allEntries()).toEqual(before);
  });

  it('a valid username still works and lands in <tmp>/users/<username>', async () => {
    const response = await send({ method: 'POST', path: '/users/alice/uploads', headers: { ...TUS, 'Upload-Length': '3' } });
    expect(response.status).toBe(201);
    const id = idOf(String(response.headers.location));
    expect(await listTree(usersDir)).toEqual(expect.arrayContaining([`alice/${id}`, `alice/${id}.json`]));
    // The same id under another user is not visible.
    const other = await send({ method: 'HEAD', path: `/users/bob/uploads/${id}`, headers: TUS });
    expect(other.status).toBe(404);
  });
});

describe('creation headers', () => {
  it.each(['', 'final;', 'final; ', 'partial;x', 'final/files/a', 'FINAL;/files/a', 'Partial'])('malformed Upload-Concat %j on POST → 400, not 501, nothing created', async (value) => {
    const response = await noSideEffect(() =>
      send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Concat': value } }),
    );
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Concat.*expected "partial" or "final;"/);
  });

  it.each(['0', '2', 'true', '', '11'])('Upload-Defer-Length %j → 400, nothing created', async (value) => {
    const response = await noSideEffect(() => send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Defer-Length': value } }));
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Upload-Defer-Length.*only allowed value is 1/);
  });

  it('both Upload-Length and Upload-Defer-Length → 400, nothing created', async () => {
    const response = await noSideEffect(() =>
      send({ method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Defer-Length': '1' } }),
    );
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_INVALID_HEADER');
    expect(errorOf(response).message).toMatch(/exactly one of Upload-Length and Upload-Defer-Length/);
  });

  it('neither Upload-Length nor Upload-Defer-Length → 400, nothing created', async () => {
    const response = await noSideEffect(() => send({ method: 'POST', path: '/files', headers: { ...TUS } }));
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_INVALID_HEADER');
    expect(errorOf(response).message).toMatch(/exactly one of Upload-Length and Upload-Defer-Length/);
  });

  it.each(['a b', 'evil.example/../x', 'exa"mple', '[::1', 'host:99999999'])('garbage Host %j on POST → 400, never 5xx, nothing created', async (host) => {
    const response = await noSideEffect(() => send({ method: 'POST', path: '/files', headers: { ...TUS, Host: host, 'Upload-Length': '10' } }));
    expectTusportError(response, 400, 'TUSPORT_ERR_INVALID_HEADER', /Host/);
    expect(response.headers.location).toBeUndefined();
  });
});

describe('the server after bad input', () => {
  it('a burst of bad requests leaves it answering: no 5xx, /healthz ok, a good upload still works', async () => {
    const bad: RawRequest[] = [
      { method: 'POST', path: '/files', headers: { 'Upload-Length': '10' } },
      { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '-1' } },
      { method: 'POST', path: '/users/a%FFb/uploads', headers: { ...TUS, 'Upload-Length': '10' } },
      { method: 'PATCH', path: `/files/${MISSING_ID}`, headers: { ...TUS, 'Content-Type': OCTET, 'Upload-Offset': 'x' }, body: 'data' },
      { method: 'POST', path: '/files', headers: { ...TUS, Host: '[::1', 'Upload-Length': '10' } },
    ];
    const statuses = [];
    for (const request of bad) statuses.push((await send(request)).status);
    expect(statuses).toEqual([412, 400, 400, 400, 400]);
    const health = await raw(server.url, { method: 'GET', path: '/healthz' });
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    const uploadPath = await partialUpload(Buffer.alloc(100, 'g'));
    expect((await send({ method: 'GET', path: uploadPath })).body).toBe('g'.repeat(100));
  });
});
