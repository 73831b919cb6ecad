import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, TUS } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';

const ALLOWED = 'https://app.example.com';

function countHeader(rawHeaders: string[] | undefined, name: string): number {
  return (rawHeaders ?? []).filter((value, i) => i % 2 === 0 && value.toLowerCase() === name).length;
}

describe('CORS for browser clients', () => {
  let server: RunningTusport;
  let wildcard: RunningTusport;

  beforeAll(async () => {
    server = await startTusport((dir) => ({ ...filesEndpoint(dir), cors: { origins: [ALLOWED], credentials: true } }));
    wildcard = await startTusport((dir) => filesEndpoint(dir));
  });
  afterAll(async () => {
    await server.close();
    await wildcard.close();
  });

  it('answers a preflight from an allowed origin with the tus methods and headers, without auth', async () => {
    const res = await raw(server.url, {
      method: 'OPTIONS',
      path: '/files',
      headers: { Origin: ALLOWED, 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'tus-resumable,upload-offset,content-type,authorization' },
    });
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-methods']).toContain('PATCH');
    for (const header of ['Tus-Resumable', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Authorization', 'X-Requested-With', 'Content-Type']) {
      expect(res.headers['access-control-allow-headers']).toContain(header);
    }
    expect(Number(res.headers['access-control-max-age'])).toBe(86400);
  });

  it('gives a refused origin no Access-Control-Allow-Origin, on preflight and on requests', async () => {
    const preflight = await raw(server.url, {
      method: 'OPTIONS',
      path: '/files',
      headers: { Origin: 'https://evil.example', 'Access-Control-Request-Method': 'POST' },
    });
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    const post = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, Origin: 'https://evil.example', 'Upload-Length': '1' } });
    expect(post.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('sends exactly one Access-Control-Allow-Origin and exposes the tus headers on every tus response', async () => {
    const collect = (res: Awaited<ReturnType<typeof raw>>) => res;
    const created = collect(await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, Origin: ALLOWED, 'Upload-Length': '3' } }));
    expect(created.status).toBe(201);
    const uploadPath = new URL(String(created.headers.location)).pathname;
    const responses = [
      created,
      await raw(server.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, Origin: ALLOWED, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: 'abc' }),
      await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, Origin: ALLOWED } }),
      await raw(server.url, { method: 'GET', path: uploadPath, headers: { Origin: ALLOWED } }),
      await raw(server.url, { method: 'HEAD', path: '/files/0123456789abcdef0123456789abcdef', headers: { ...TUS, Origin: ALLOWED } }),
      await raw(server.url, { method: 'POST', path: '/files', headers: { Origin: ALLOWED, 'Upload-Length': '3' } }),
      await raw(server.url, { method: 'DELETE', path: uploadPath, headers: { ...TUS, Origin: ALLOWED } }),
    ];
    expect(responses.map((r) => r.status)).toEqual([201, 204, 200, 200, 404, 412, 204]);
    for (const res of responses) {
      expect(res.headers['access-control-allow-origin']).toBe(ALLOWED);
      const exposed = String(res.headers['access-control-expose-headers']);
      for (const header of ['Location', 'Upload-Offset', 'Upload-Length', 'Upload-Metadata', 'Upload-Expires', 'Tus-Resumable', 'Tus-Version', 'Tus-Max-Size', 'Tus-Extension']) {
        expect(exposed).toContain(header);
      }
    }
  });

  it('counts Access-Control-Allow-Origin on the wire: one, even where @tus/server sets its own', async () => {
    const http = await import('node:http');
    const url = new URL(wildcard.url);
    const rawHeaders = await new Promise<string[]>((resolve, reject) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'POST', path: '/files', headers: { ...TUS, Origin: ALLOWED, 'Upload-Length': '1' } });
      req.on('response', (res) => {
        res.resume();
        resolve(res.rawHeaders);
      });
      req.on('error', reject);
      req.end();
    });
    expect(countHeader(rawHeaders, 'access-control-allow-origin')).toBe(1);
    const options = await raw(wildcard.url, { method: 'OPTIONS', path: '/files', headers: { Origin: ALLOWED } });
    expect(options.headers['access-control-allow-origin']).toBe('*');
  });
});
