import { mkdir, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree } from '../helpers/files.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';

describe('expiration of unfinished uploads', () => {
  let server: RunningTusport;
  const store = () => path.join(server.dir, 'files');

  beforeAll(async () => {
    server = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, expire: '1h' }] }));
  });
  afterAll(() => server.close());

  it('announces Upload-Expires on creation, PATCH and HEAD of unfinished uploads', async () => {
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
    const expires = Date.parse(String(created.headers['upload-expires']));
    expect(expires).toBeGreaterThan(Date.now() + 59 * 60 * 1000);
    expect(expires).toBeLessThan(Date.now() + 61 * 60 * 1000);
    const uploadPath = new URL(String(created.headers.location)).pathname;
    const patched = await patch(server.url, uploadPath, 0, Buffer.from('12345'));
    expect(patched.headers['upload-expires']).toBe(created.headers['upload-expires']);
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.headers['upload-expires']).toBe(created.headers['upload-expires']);
    const finished = await patch(server.url, uploadPath, 5, Buffer.from('67890'));
    expect(finished.status).toBe(204);
    expect(finished.headers['upload-expires']).toBeUndefined();
  });

  it('the sweep removes expired unfinished uploads and crash debris, never finished uploads', async () => {
    const unfinished = await createUpload(server.url, '/files', { 'Upload-Length': '10' });
    await patch(server.url, unfinished, 0, Buffer.from('abc'));
    const finished = await createUpload(server.url, '/files', { 'Upload-Length': '3' });
    await patch(server.url, finished, 0, Buffer.from('xyz'));
    const fresh = await createUpload(server.url, '/files', { 'Upload-Length': '10' });
    // Debris a crash could leave: a temp sidecar and a sidecar without data, both old.
    await mkdir(store(), { recursive: true });
    const tmp = path.join(store(), 'deadbeef.json.0123456789ab.tmp');
    const orphan = path.join(store(), '0123456789abcdef0123456789abcdef.json');
    await writeFile(tmp, '{');
    await writeFile(orphan, JSON.stringify({ id: '0123456789abcdef0123456789abcdef', offset: 0, creation_date: new Date(0).toISOString(), tusport: { version: 1, endpoint: '/files', params: {}, owner: null } }));
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(tmp, old, old);
    await utimes(orphan, old, old);

    // Now: nothing has expired yet, only the debris goes.
    expect(await server.app.tusport.sweep()).toEqual({ expired: 0, leftovers: 2, completed: 0, skipped: 0 });
    // Two hours on: the unfinished uploads are expired; the finished one stays.
    const later = Date.now() + 2 * 60 * 60 * 1000;
    expect(await server.app.tusport.sweep(later)).toEqual({ expired: 2, leftovers: 0, completed: 0, skipped: 0 });
    const left = await listTree(store());
    expect(left).toContain(idOf(finished));
    expect(left).toContain(`${idOf(finished)}.json`);
    for (const gone of [unfinished, fresh]) {
      expect(left).not.toContain(idOf(gone));
      expect(left).not.toContain(`${idOf(gone)}.json`);
    }
    expect(left.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect((await raw(server.url, { method: 'HEAD', path: finished, headers: TUS })).status).toBe(200);
    expect((await raw(server.url, { method: 'HEAD', path: unfinished, headers: TUS })).status).toBe(404);
  });
});

describe('an upload past its expiry', () => {
  const EXPIRE_MS = 300;
  let server: RunningTusport;
  beforeAll(async () => {
    server = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, expire: EXPIRE_MS }] }));
  });
  afterAll(() => server.close());

  it('is refused with 410 on HEAD and PATCH, while a finished one of the same age is still served', async () => {
    const unfinished = await createUpload(server.url, '/files', { 'Upload-Length': '10' });
    // The server dated the upload before its 201 arrived here: once this clock is past that
    // moment plus the expiry, the upload has expired, however slowly the machine runs.
    const createdBy = Date.now();
    // Finished in its creation request (creation-with-upload), so it never had an unfinished
    // moment that the short expiry could catch.
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '2', 'Content-Type': 'application/offset+octet-stream' }, body: 'ok' });
    expect(created.status).toBe(201);
    expect(created.headers['upload-offset']).toBe('2');
    const finished = new URL(String(created.headers.location)).pathname;
    await until(() => Date.now() > createdBy + EXPIRE_MS, 'the unfinished upload\'s expiry');
    const head = await raw(server.url, { method: 'HEAD', path: unfinished, headers: TUS });
    expect(head.status).toBe(410);
    const patched = await patch(server.url, unfinished, 0, Buffer.from('late'));
    expect(patched.status).toBe(410);
    expect(errorOf(patched).code).toBe('TUSPORT_ERR_EXPIRED');
    expect((await raw(server.url, { method: 'HEAD', path: finished, headers: TUS })).status).toBe(200);
    expect((await raw(server.url, { method: 'GET', path: finished })).body).toBe('ok');
  });
});
