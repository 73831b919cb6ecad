import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/** Finding 12 of issue 11: protocol details a foreign tus test suite tripped over. */
describe('protocol details', () => {
  let server: RunningTusport;

  beforeAll(async () => {
    server = await startTusport((dir) => ({
      endpoints: [
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } },
        { path: '/brief', store: { type: 'disk', directory: path.join(dir, 'brief') }, expire: '1ms' },
      ],
    }));
  });
  afterAll(() => server.close());

  it('GET on the collection URL with a trailing slash is the files listing (here refused: the endpoint has no auth)', async () => {
    const response = await raw(server.url, { method: 'GET', path: '/files/', headers: TUS });
    expect(response.status).toBe(403);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_LIST_NEEDS_AUTH');
  });

  it.each(['PATCH', 'HEAD', 'DELETE'])('%s on the collection URL with a trailing slash (no id) is a 404 that carries Tus-Resumable', async (method) => {
    const response = await raw(server.url, {
      method,
      path: '/files/',
      headers: { ...TUS, ...(method === 'PATCH' ? { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' } : {}) },
    });
    expect(response.status).toBe(404);
    expect(response.headers['tus-resumable']).toBe('1.0.0');
    if (method !== 'HEAD') expect(errorOf(response).code).toBe('TUSPORT_ERR_ROUTE_NOT_FOUND');
  });

  it('a CORS preflight is a 204 without Content-Length (RFC 9110 8.6), as are the PATCH and DELETE 204s', async () => {
    const preflight = await raw(server.url, {
      method: 'OPTIONS',
      path: '/files',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'tus-resumable,upload-length' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['content-length']).toBeUndefined();
    expect(preflight.bytes.length).toBe(0);

    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 3 });
    const patched = await patch(server.url, uploadPath, 0, 'abc');
    expect(patched.status).toBe(204);
    expect(patched.headers['content-length']).toBeUndefined();
    const deleted = await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS });
    expect(deleted.status).toBe(204);
    expect(deleted.headers['content-length']).toBeUndefined();
  });

  it('GET of an unfinished upload says it is not finished (409), while HEAD on it says 200', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
    expect((await patch(server.url, uploadPath, 0, 'abcd')).status).toBe(204);
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.status).toBe(200);
    const download = await raw(server.url, { method: 'GET', path: uploadPath });
    expect(download.status).toBe(409);
    expect(errorOf(download)).toMatchObject({ code: 'TUSPORT_ERR_UPLOAD_INCOMPLETE', message: 'The upload is not finished yet: 4 of 10 bytes received' });
    // No side effect: the offset is where it was, and the upload still completes.
    expect((await patch(server.url, uploadPath, 4, 'efghij')).status).toBe(204);
    const done = await raw(server.url, { method: 'GET', path: uploadPath });
    expect(done.status).toBe(200);
    expect(done.body).toBe('abcdefghij');
  });

  it('GET of an unfinished upload of deferred length says so too', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Defer-Length': '1' });
    const download = await raw(server.url, { method: 'GET', path: uploadPath });
    expect(download.status).toBe(409);
    expect(errorOf(download).message).toBe('The upload is not finished yet: 0 of an unknown number of bytes received');
  });

  it('GET of an expired unfinished upload is 410, as HEAD says', async () => {
    const uploadPath = await createUpload(server.url, '/brief', { 'Upload-Length': 10 });
    await sleep(5);
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(410);
    const download = await raw(server.url, { method: 'GET', path: uploadPath });
    expect(download.status).toBe(410);
    expect(errorOf(download).code).toBe('TUSPORT_ERR_EXPIRED');
  });

  it('a URL no endpoint serves is a 404 with Tus-Resumable, but plain OPTIONS answers carry none', async () => {
    const response = await raw(server.url, { method: 'PATCH', path: '/nowhere', headers: TUS });
    expect(response.status).toBe(404);
    expect(response.headers['tus-resumable']).toBe('1.0.0');
    const options = await raw(server.url, { method: 'OPTIONS', path: '/nowhere' });
    expect(options.status).toBe(404);
    expect(options.headers['tus-resumable']).toBeUndefined();
  });
});
