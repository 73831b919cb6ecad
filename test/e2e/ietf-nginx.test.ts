import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningNginx, startNginx } from '../harness/nginx.js';
import { idOf, sha256 } from '../helpers/files.js';
import { ietfRequest } from '../helpers/ietf-client.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * The IETF draft through the shipped nginx config. nginx (1.22, Debian 12) takes an upstream's
 * 104 for the final response: it sends the client `104` with its own headers and then the real
 * answer's bytes as if they were that response's body (a client on `Connection: close` fails to
 * parse it). So tusport sends no 104 to a request that came through a proxy (X-Forwarded-*,
 * Forwarded or Via present): the client learns the upload's URL from the final answer, and the
 * upload works.
 */
let server: RunningTusport;
let nginx: RunningNginx;
beforeAll(async () => {
  server = await startTusport((dir) => ({
    server: { trustProxy: ['127.0.0.1'] },
    endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } }],
  }));
  nginx = await startNginx({ upstreamPort: Number(new URL(server.url).port), clientMaxBodySize: '1m' });
});
afterAll(async () => {
  await nginx?.stop();
  await server?.close();
});

it('creates, appends and completes through nginx; no 104 is sent through a proxy, directly it is', async () => {
  const data = randomBytes(300_000);
  const headers = { 'Upload-Draft-Interop-Version': '8' };
  const direct = await ietfRequest(server.url, { method: 'POST', url: '/files', headers: { ...headers, 'Upload-Complete': '?1' }, body: Buffer.from('x') });
  expect(direct.informational.map((info) => info.status)).toEqual([104]);

  const created = await ietfRequest(nginx.url, { method: 'POST', url: '/files', headers: { ...headers, 'Upload-Complete': '?0' }, body: data.subarray(0, 100_000) });
  expect(String(created.headers.server)).toMatch(/^nginx/);
  expect(created.status).toBe(201);
  expect(created.informational).toEqual([]);
  const url = created.headers.location!;
  expect(url.startsWith(`${nginx.url}/files/`)).toBe(true);
  const done = await ietfRequest(nginx.url, {
    method: 'PATCH',
    url,
    headers: { ...headers, 'Upload-Complete': '?1', 'Upload-Offset': '100000', 'Content-Type': 'application/partial-upload' },
    body: data.subarray(100_000),
  });
  expect(done.status).toBe(204);
  expect(done.headers['upload-complete']).toBe('?1');
  expect(sha256(await readFile(path.join(server.dir, 'files', idOf(url))))).toBe(sha256(data));
});

it('a complete upload of unknown length by PUT, chunked, through nginx: no 104, stored whole, 201 with its Location', async () => {
  const data = randomBytes(500_000);
  const created = await ietfRequest(nginx.url, { method: 'PUT', url: '/files', headers: { 'Upload-Draft-Interop-Version': '6', 'Upload-Complete': '?1' }, body: data, chunked: true });
  expect(String(created.headers.server)).toMatch(/^nginx/);
  expect(created.status).toBe(201);
  expect(created.informational).toEqual([]);
  expect(created.headers['upload-complete']).toBe('?1');
  expect(created.headers.location!.startsWith(`${nginx.url}/files/`)).toBe(true);
  expect(sha256(await readFile(path.join(server.dir, 'files', idOf(created.headers.location!))))).toBe(sha256(data));
});
