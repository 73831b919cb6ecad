import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { signDownloadLink } from '../../src/index.js';
import { sha256 } from './files.js';
import { until } from './wait.js';
import { errorOf, raw, type RawResponse, TUS } from './http.js';
import type { RunningTusport } from './server.js';

/**
 * The download behaviour every store must give (run by test/integration/download-range.test.ts on
 * disk and test/s3/download.test.ts on Ceph RGW): Range, validators, conditional requests,
 * Content-Disposition, cancelled downloads, and signed links. Real clients: raw HTTP, curl, fetch.
 */

export const ALICE = 'alice-token-0123456789abcdef';
export const BOB = 'bob-token-0123456789abcdefgh';
export const LINK_SECRET = 'link-secret-for-tests-0123456789abcdefghij';

/** The endpoint fields the suite needs; the caller adds `path` and `store`. */
export const downloadEndpoint = {
  auth: { type: 'bearer' as const, tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] },
  downloads: { linkSecret: LINK_SECRET, linkMaxAge: '2h' },
};

const asAlice = { Authorization: `Bearer ${ALICE}` };
const execFileAsync = promisify(execFile);
/** The test process's (and so the in-process server's) open file descriptors. */
const openDescriptors = () => readdirSync('/proc/self/fd').length;

/** A finished upload of `data` by `token`'s principal; returns its URL path. */
export async function uploadBytes(server: RunningTusport, data: Buffer, metadata: Record<string, string> = {}, token = ALICE): Promise<string> {
  const encoded = Object.entries(metadata).map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`).join(',');
  const created = await raw(server.url, {
    method: 'POST',
    path: '/files',
    headers: { ...TUS, Authorization: `Bearer ${token}`, 'Upload-Length': data.length, 'Content-Type': 'application/offset+octet-stream', ...(encoded ? { 'Upload-Metadata': encoded } : {}) },
    body: data,
  });
  expect(created.status, created.body).toBe(201);
  expect(created.headers['upload-offset']).toBe(String(data.length));
  return new URL(String(created.headers.location)).pathname;
}

const get = (server: RunningTusport, urlPath: string, headers: Record<string, string> = {}) => raw(server.url, { method: 'GET', path: urlPath, headers: { ...asAlice, ...headers } });

function expectError(response: RawResponse, status: number, code: string) {
  expect(response.status, response.body).toBe(status);
  expect(errorOf(response).code).toBe(code);
}

export interface SuiteOptions {
  /** The running server (started by the caller's beforeAll with `downloadEndpoint`). */
  server: () => RunningTusport;
  /** A second server on the same store (stands for another instance or a restart). */
  another: () => Promise<RunningTusport>;
  /** The server's log lines so far (JSON objects, pino levels). */
  logs: () => Record<string, unknown>[];
}

export function downloadSuite(options: SuiteOptions): void {
  const server = () => options.server();

  describe('Range, validators and conditional requests', () => {
    const data = randomBytes(300_000);
    let url: string;
    let full: RawResponse;
    const ready = async () => {
      url ??= await uploadBytes(server(), data, { filename: 'data.bin' });
      full ??= await get(server(), url);
      return { url, etag: String(full.headers.etag), lastModified: String(full.headers['last-modified']) };
    };

    it('a plain GET: 200, every byte, Content-Length, Accept-Ranges, a strong ETag, Last-Modified', async () => {
      await ready();
      expect(full.status).toBe(200);
      expect(sha256(full.bytes)).toBe(sha256(data));
      expect(full.headers['content-length']).toBe(String(data.length));
      expect(full.headers['accept-ranges']).toBe('bytes');
      expect(full.headers.etag).toMatch(/^"[A-Za-z0-9_-]{27}"$/);
      expect(Date.parse(String(full.headers['last-modified']))).toBeGreaterThan(Date.now() - 600_000);
    });

    it.each([
      ['bytes=10-99', 10, 99],
      ['bytes=299000-', 299_000, 299_999],
      ['bytes=-100', 299_900, 299_999],
      ['bytes=299990-999999', 299_990, 299_999],
      ['bytes=0-0', 0, 0],
    ])('Range %s: 206 with Content-Range and exactly those bytes', async (range, start, end) => {
      const { url } = await ready();
      const response = await get(server(), url, { Range: range });
      expect(response.status).toBe(206);
      expect(response.headers['content-range']).toBe(`bytes ${start}-${end}/${data.length}`);
      expect(response.headers['content-length']).toBe(String(end - start + 1));
      expect(response.bytes.equals(data.subarray(start, end + 1))).toBe(true);
    });

    it('a range past the end: 416 with Content-Range: bytes */size, a named code', async () => {
      const { url } = await ready();
      const response = await get(server(), url, { Range: 'bytes=300000-' });
      expectError(response, 416, 'TUSPORT_ERR_RANGE_NOT_SATISFIABLE');
      expect(response.headers['content-range']).toBe(`bytes */${data.length}`);
    });

    it.each([
      ['several ranges (documented: the whole file)', 'bytes=0-9,100-199'],
      ['a malformed Range (ignored, RFC 9110)', 'bytes=abc'],
      ['another unit (ignored)', 'items=0-5'],
    ])('%s: 200 with every byte', async (_label, range) => {
      const { url } = await ready();
      const response = await get(server(), url, { Range: range });
      expect(response.status).toBe(200);
      expect(response.headers['content-length']).toBe(String(data.length));
      expect(sha256(response.bytes)).toBe(sha256(data));
    });

    it('If-None-Match with the ETag (also weak, also *) is 304 without a body; another ETag is 200', async () => {
      const { url, etag } = await ready();
      for (const value of [etag, `W/${etag}`, '*', `"nope", ${etag}`]) {
        const response = await get(server(), url, { 'If-None-Match': value });
        expect(response.status, value).toBe(304);
        expect(response.bytes.length).toBe(0);
        expect(response.headers.etag).toBe(etag);
      }
      expect((await get(server(), url, { 'If-None-Match': '"something-else"' })).status).toBe(200);
    });

    it('If-Modified-Since: 304 at Last-Modified, 200 before it; If-None-Match wins over it', async () => {
      const { url, lastModified } = await ready();
      expect((await get(server(), url, { 'If-Modified-Since': lastModified })).status).toBe(304);
      expect((await get(server(), url, { 'If-Modified-Since': new Date(Date.parse(lastModified) - 5000).toUTCString() })).status).toBe(200);
      expect((await get(server(), url, { 'If-Modified-Since': lastModified, 'If-None-Match': '"other"' })).status).toBe(200);
    });

    it('If-Range: the range while the ETag or date matches, the whole file otherwise', async () => {
      const { url, etag, lastModified } = await ready();
      expect((await get(server(), url, { Range: 'bytes=0-9', 'If-Range': etag })).status).toBe(206);
      expect((await get(server(), url, { Range: 'bytes=0-9', 'If-Range': lastModified })).status).toBe(206);
      for (const stale of ['"stale-etag"', `W/${etag}`, 'Mon, 01 Jan 2001 00:00:00 GMT']) {
        const response = await get(server(), url, { Range: 'bytes=0-9', 'If-Range': stale });
        expect(response.status, stale).toBe(200);
        expect(response.bytes.length).toBe(data.length);
      }
    });

    it('If-Match with another ETag: 412 with a named code; with the ETag: 200', async () => {
      const { url, etag } = await ready();
      expectError(await get(server(), url, { 'If-Match': '"other"' }), 412, 'TUSPORT_ERR_PRECONDITION_FAILED');
      expect((await get(server(), url, { 'If-Match': etag })).status).toBe(200);
    });

    it('the ETag and Last-Modified are the same from another instance on the same store (persisted, not per process)', async () => {
      const { url, etag, lastModified } = await ready();
      const other = await options.another();
      try {
        const response = await get(other, url);
        expect(response.headers.etag).toBe(etag);
        expect(response.headers['last-modified']).toBe(lastModified);
        expect((await get(other, url, { 'If-None-Match': etag })).status).toBe(304);
      } finally {
        await other.close();
      }
    });

    it('curl: -r for a slice, -C - resumes a partial download to the identical file', async () => {
      const { url } = await ready();
      const dir = await mkdtemp(path.join(tmpdir(), 'tusport-curl-'));
      try {
        const slice = path.join(dir, 'slice');
        await execFileAsync('curl', ['-sS', '-f', '-H', `Authorization: Bearer ${ALICE}`, '-r', '1000-1999', '-o', slice, `${server().url}${url}`]);
        expect((await readFile(slice)).equals(data.subarray(1000, 2000))).toBe(true);
        const partial = path.join(dir, 'partial');
        await writeFile(partial, data.subarray(0, 123_457));
        await execFileAsync('curl', ['-sS', '-f', '-H', `Authorization: Bearer ${ALICE}`, '-C', '-', '-o', partial, `${server().url}${url}`]);
        expect(sha256(await readFile(partial))).toBe(sha256(data));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('fetch with a Range header gets the slice', async () => {
      const { url } = await ready();
      const response = await fetch(`${server().url}${url}`, { headers: { ...asAlice, Range: 'bytes=5-14' } });
      expect(response.status).toBe(206);
      expect(Buffer.from(await response.arrayBuffer()).equals(data.subarray(5, 15))).toBe(true);
    });
  });

  describe('Content-Disposition', () => {
    it('?download=1 makes even a safe type an attachment; otherwise inline for it', async () => {
      const url = await uploadBytes(server(), Buffer.from('hello'), { filename: 'notes.txt', filetype: 'text/plain' });
      expect((await get(server(), url)).headers['content-disposition']).toBe(`inline; filename="notes.txt"; filename*=UTF-8''notes.txt`);
      const response = await get(server(), `${url}?download=1`);
      expect(response.headers['content-disposition']).toBe(`attachment; filename="notes.txt"; filename*=UTF-8''notes.txt`);
      expect(response.body).toBe('hello');
      expect((await get(server(), `${url}?download=0`)).headers['content-disposition']).toMatch(/^inline;/);
    });

    it('a filename with a path, control characters and non-ASCII letters is reduced to a safe, exact name', async () => {
      const url = await uploadBytes(server(), Buffer.from('x'), { filename: '../../etc/r\u00e9sum\u00e9\u0007 "1";.pdf', filetype: 'application/pdf' });
      const response = await get(server(), `${url}?download=1`);
      expect(response.headers['content-disposition']).toBe(`attachment; filename="r_sum_ _1__.pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%221%22%3B.pdf`);
    });
  });

  describe('cancelled downloads', () => {
    it('70 downloads cancelled mid-body (more than the S3 client has sockets) leave the server serving normally', async () => {
      const data = randomBytes(12 * 1024 * 1024);
      const url = await uploadBytes(server(), data, { filename: 'big.bin' });
      const base = new URL(server().url);
      const logged = options.logs().length;
      const descriptors = openDescriptors();
      for (let i = 0; i < 70; i++) {
        await new Promise<void>((resolve, reject) => {
          const request = http.get({ host: base.hostname, port: base.port, path: url, headers: asAlice, agent: false }, (response) => {
            expect(response.statusCode).toBe(200);
            response.once('data', () => {
              request.destroy();
              resolve();
            });
          });
          request.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
        });
      }
      const response = await get(server(), url);
      expect(response.status).toBe(200);
      expect(sha256(response.bytes)).toBe(sha256(data));
      const ranged = await get(server(), url, { Range: 'bytes=1000000-1000099' });
      expect(ranged.bytes.equals(data.subarray(1_000_000, 1_000_100))).toBe(true);
      // A client going away is routine: nothing about it is logged as a warning or an error.
      const noisy = options.logs().slice(logged).filter((line) => Number(line.level) >= 40);
      expect(noisy).toEqual([]);
      // Every stream was destroyed: the process holds no more descriptors (files, sockets) than before.
      await until(() => openDescriptors() <= descriptors + 2, `descriptors back to ${descriptors} (now ${openDescriptors()})`);
    });
  });

  describe('unfinished uploads', () => {
    it('are not served: 409 with the offset, nothing changed', async () => {
      const created = await raw(server().url, { method: 'POST', path: '/files', headers: { ...TUS, ...asAlice, 'Upload-Length': '10', 'Content-Type': 'application/offset+octet-stream' }, body: 'abc' });
      const url = new URL(String(created.headers.location)).pathname;
      const response = await get(server(), url);
      expectError(response, 409, 'TUSPORT_ERR_UPLOAD_INCOMPLETE');
      expect(errorOf(response).message).toBe('The upload is not finished yet: 3 of 10 bytes received');
      const head = await raw(server().url, { method: 'HEAD', path: url, headers: { ...TUS, ...asAlice } });
      expect(head.headers['upload-offset']).toBe('3');
    });
  });

  describe('signed download links', () => {
    const link = (urlPath: string, extra: Partial<Parameters<typeof signDownloadLink>[0]> = {}) =>
      new URL(signDownloadLink({ url: `${server().url}${urlPath}`, secret: LINK_SECRET, expiresIn: 3600_000, ...extra }));
    const getLink = (url: URL, headers: Record<string, string> = {}) => raw(server().url, { method: 'GET', path: url.pathname + url.search, headers });

    it('download without the bearer token until they expire (Range too); without a link the token is needed', async () => {
      const data = randomBytes(50_000);
      const url = await uploadBytes(server(), data, { filename: 'a.bin' });
      expect((await raw(server().url, { method: 'GET', path: url })).status).toBe(401);
      const signed = link(url);
      const response = await getLink(signed);
      expect(response.status).toBe(200);
      expect(sha256(response.bytes)).toBe(sha256(data));
      const ranged = await getLink(signed, { Range: 'bytes=100-199' });
      expect(ranged.status).toBe(206);
      expect(ranged.bytes.equals(data.subarray(100, 200))).toBe(true);
      const viaFetch = await fetch(signed);
      expect(sha256(Buffer.from(await viaFetch.arrayBuffer()))).toBe(sha256(data));
    });

    it('open the upload of another owner too (the link is the permission), and only that one', async () => {
      const bobs = await uploadBytes(server(), Buffer.from('bob data'), {}, BOB);
      const alices = await uploadBytes(server(), Buffer.from('alice data'));
      const bobLink = link(bobs);
      expect((await getLink(bobLink)).body).toBe('bob data');
      // Bob's link's parameters on Alice's URL: the signature covers the path.
      const swapped = new URL(`${server().url}${alices}${bobLink.search}`);
      expectError(await getLink(swapped), 403, 'TUSPORT_ERR_LINK_INVALID');
    });

    it('an expired link: 403 TUSPORT_ERR_LINK_EXPIRED', async () => {
      const url = await uploadBytes(server(), Buffer.from('x'));
      const expired = link(url, { expiresIn: 60_000, now: Date.now() - 3600_000 });
      const response = await getLink(expired);
      expectError(response, 403, 'TUSPORT_ERR_LINK_EXPIRED');
      expect(errorOf(response).message).toMatch(/expired at \d{4}-/);
    });

    it.each([
      ['a changed signature', (u: URL) => u.searchParams.set('sig', `${u.searchParams.get('sig')!.slice(0, -2)}AA`)],
      ['a changed expiry', (u: URL) => u.searchParams.set('expires', String(Number(u.searchParams.get('expires')) + 60))],
      ['a missing signature', (u: URL) => u.searchParams.delete('sig')],
      ['a malformed expiry', (u: URL) => u.searchParams.set('expires', 'soon')],
      ['another secret', (u: URL) => u.searchParams.set('sig', new URL(signDownloadLink({ url: u.toString(), secret: 'x'.repeat(40), expiresIn: 60_000 })).searchParams.get('sig')!)],
    ])('a tampered link (%s): 403 TUSPORT_ERR_LINK_INVALID', async (_label, tamper) => {
      const url = await uploadBytes(server(), Buffer.from('x'));
      const signed = link(url);
      tamper(signed);
      expectError(await getLink(signed), 403, 'TUSPORT_ERR_LINK_INVALID');
    });

    it('a link living longer than downloads.linkMaxAge is refused', async () => {
      const url = await uploadBytes(server(), Buffer.from('x'));
      const response = await getLink(link(url, { expiresIn: 3 * 3600_000 }));
      expectError(response, 403, 'TUSPORT_ERR_LINK_INVALID');
      expect(errorOf(response).message).toMatch(/linkMaxAge/);
    });

    it('a link opens GET only: HEAD, PATCH and DELETE with it still need the token', async () => {
      const url = await uploadBytes(server(), Buffer.from('keep me'));
      const signed = link(url);
      for (const method of ['HEAD', 'DELETE']) {
        expect((await raw(server().url, { method, path: signed.pathname + signed.search, headers: TUS })).status, method).toBe(401);
      }
      expect((await get(server(), url)).body).toBe('keep me');
    });
  });
}
