import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, type RawResponse, TUS } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * GET of a finished upload serves user-supplied bytes from the server's origin: the headers are a
 * security property. A type a browser could run (HTML, SVG, PDF, anything unknown) downloads as an
 * attachment; `nosniff` stops the browser guessing; a declared type that is not a MIME type falls
 * back to application/octet-stream.
 */

let server: RunningTusport;
beforeAll(async () => {
  server = await startTusport((dir) => filesEndpoint(dir));
});
afterAll(() => server?.close());

/** A finished upload of `body` declared with `metadata`; returns the GET answer. */
async function download(body: string, metadata: Record<string, string>): Promise<RawResponse> {
  const encoded = Object.entries(metadata)
    .map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`)
    .join(',');
  const created = await raw(server.url, {
    method: 'POST',
    path: '/files',
    headers: { ...TUS, 'Upload-Length': Buffer.byteLength(body), 'Content-Type': 'application/offset+octet-stream', ...(encoded ? { 'Upload-Metadata': encoded } : {}) },
    body,
  });
  expect(created.status, created.body).toBe(201);
  expect(created.headers['upload-offset']).toBe(String(Buffer.byteLength(body)));
  const response = await raw(server.url, { method: 'GET', path: new URL(String(created.headers.location)).pathname });
  expect(response.status).toBe(200);
  expect(response.body).toBe(body);
  expect(response.headers['x-content-type-options']).toBe('nosniff');
  expect(response.headers['content-length']).toBe(String(Buffer.byteLength(body)));
  return response;
}

describe('GET download headers', () => {
  it.each([
    ['text/html', 'page.html', '<script>alert(1)</script>'],
    ['image/svg+xml', 'logo.svg', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'],
    ['application/pdf', 'doc.pdf', '%PDF-1.4\n%%EOF\n'],
    ['application/javascript', 'app.js', 'alert(1)'],
    ['application/x-unknown-thing', 'blob.bin', 'bytes'],
  ])('%s downloads as an attachment, never inline', async (type, filename, body) => {
    const response = await download(body, { filetype: type, filename });
    expect(response.headers['content-type']).toBe(type);
    expect(response.headers['content-disposition']).toBe(`attachment; filename="${filename}"; filename*=UTF-8''${filename}`);
  });

  it.each([
    ['text/plain', 'notes.txt'],
    ['image/png', 'photo.png'],
    ['video/mp4', 'clip.mp4'],
  ])('%s (safe to render) is served inline', async (type, filename) => {
    const response = await download('data', { filetype: type, filename });
    expect(response.headers['content-type']).toMatch(new RegExp(`^${type.replace('/', '\\/')}`));
    expect(response.headers['content-disposition']).toBe(`inline; filename="${filename}"; filename*=UTF-8''${filename}`);
  });

  it.each([
    ['not a MIME type', 'html'],
    ['a header injection attempt', 'text/html\r\nX-Evil: 1'],
    ['parameters smuggled in', 'text/html; charset=utf-8'],
    ['an empty type', ''],
  ])('a declared type that is %s falls back to application/octet-stream, as an attachment', async (_label, type) => {
    const response = await download('<b>hi</b>', { filetype: type, filename: 'x' });
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.headers['content-disposition']).toBe('attachment; filename="x"; filename*=UTF-8\'\'x');
    expect(response.headers['x-evil']).toBeUndefined();
  });

  it('no metadata at all: application/octet-stream, attachment, no filename', async () => {
    const response = await download('raw bytes', {});
    expect(response.headers['content-type']).toBe('application/octet-stream');
    expect(response.headers['content-disposition']).toBe('attachment');
  });

  it('an unfinished upload is not served (409, saying how far it got)', async () => {
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': `filetype ${Buffer.from('text/html').toString('base64')}` } });
    const response = await raw(server.url, { method: 'GET', path: new URL(String(created.headers.location)).pathname });
    expect(response.status).toBe(409);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'TUSPORT_ERR_UPLOAD_INCOMPLETE', message: 'The upload is not finished yet: 0 of 10 bytes received' });
  });
});
