import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raw, TUS } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';

/** The demo page's routes, served from memory beside the tus endpoints (the browser test is test/e2e/uppy.test.ts). */

const example = (name: string) => readFileSync(new URL(`../../examples/uppy/${name}`, import.meta.url), 'utf8');
const get = (server: RunningTusport, url: string, headers: Record<string, string> = {}) => raw(server.url, { method: 'GET', path: url, headers });

describe('demo page', () => {
  let atRoot: RunningTusport;
  let atPath: RunningTusport;
  let off: RunningTusport;

  beforeAll(async () => {
    atRoot = await startTusport((dir) => ({
      endpoints: [
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, maxSize: '1GB', maxChunkSize: '5MiB', policy: { accept: ['image/*', '.csv'] } },
      ],
      demo: true,
    }));
    atPath = await startTusport((dir) => ({
      endpoints: [
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } },
        {
          path: '/users/{username}/uploads',
          store: { type: 'disk', directory: path.join(dir, 'users', '{username}') },
          auth: { type: 'bearer', tokens: [{ id: 'alice', token: 'alice-token-0123456789' }] },
        },
      ],
      demo: { path: '/try', endpoint: '/users/{username}/uploads/' },
    }));
    off = await startTusport((dir) => filesEndpoint(dir));
  });
  afterAll(async () => {
    await Promise.all([atRoot.close(), atPath.close(), off.close()]);
  });

  it('serves examples/uppy/index.html at / as HTML that revalidates', async () => {
    const page = await get(atRoot, '/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).toBe(example('index.html'));
    expect(page.body).toContain('"uppy": "./uppy.min.mjs"');
    const again = await get(atRoot, '/', { 'If-None-Match': String(page.headers.etag) });
    expect(again.status).toBe(304);
    expect(again.body).toBe('');
  });

  it('serves app.js, the Uppy bundle and its CSS from the installed package, with their types', async () => {
    const app = await get(atRoot, '/app.js');
    expect(app.status).toBe(200);
    expect(app.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(app.body).toBe(example('app.js'));
    const bundle = await get(atRoot, '/uppy.min.mjs');
    expect(bundle.status).toBe(200);
    expect(bundle.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(bundle.headers['cache-control']).toBe('public, max-age=3600');
    expect(bundle.body).toMatch(/export\{[^}]*\bas Dashboard\b/);
    expect(bundle.bytes.equals(readFileSync(new URL('../../node_modules/uppy/dist/uppy.min.mjs', import.meta.url)))).toBe(true);
    const css = await get(atRoot, '/uppy.min.css');
    expect(css.status).toBe(200);
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.body).toContain('.uppy-Dashboard');
  });

  it("config.json tells the page the endpoint, its accept list and chunk limit", async () => {
    const config = await get(atRoot, '/config.json');
    expect(config.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(config.body)).toEqual({ endpoint: '/files', params: [], auth: 'none', accept: ['image/*', '.csv'], maxSize: 1e9, chunkSize: 5 * 2 ** 20, form: false });
  });

  it('the tus endpoint works beside it', async () => {
    expect((await raw(atRoot.url, { method: 'OPTIONS', path: '/files', headers: TUS })).status).toBe(204);
    expect((await raw(atRoot.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '1', 'Upload-Metadata': `filename ${Buffer.from('a.csv').toString('base64')}` } })).status).toBe(201);
  });

  it('at demo.path: /try redirects to /try/ (relative URLs need the slash), assets beside it, nothing at /', async () => {
    const redirect = await get(atPath, '/try?x=1');
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('/try/?x=1');
    expect((await get(atPath, '/try/')).status).toBe(200);
    expect((await get(atPath, '/try/uppy.min.css')).status).toBe(200);
    expect((await get(atPath, '/')).status).toBe(404);
    expect((await get(atPath, '/app.js')).status).toBe(404);
  });

  it('demo.endpoint picks the endpoint; the page learns its params and that it needs a token', async () => {
    const config = JSON.parse((await get(atPath, '/try/config.json')).body);
    expect(config).toEqual({ endpoint: '/users/{username}/uploads', params: ['username'], auth: 'bearer', accept: null, maxSize: null, chunkSize: null, form: false });
  });

  it('is off unless configured', async () => {
    for (const url of ['/', '/app.js', '/config.json', '/uppy.min.mjs']) {
      const response = await get(off, url);
      expect(response.status, url).toBe(404);
      expect(JSON.parse(response.body).code).toBe('TUSPORT_ERR_ROUTE_NOT_FOUND');
    }
  });
});
