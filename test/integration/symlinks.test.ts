import { mkdir, readFile, rmdir, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { listTree } from '../helpers/files.js';
import { createUpload, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Issue 11, finding 4: a symlink inside the store must never lead tusport outside it. With one
 * pointing out, a new upload's data and sidecar were created outside, and the sweep (a recursive
 * readdir that followed symlinked directories) deleted a user's file outside the store.
 */

const HOURS_2 = 2 * 60 * 60 * 1000;
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const task of cleanup.splice(0).reverse()) await task();
});

/** A server whose store is `<dir>/store/{username}`, and a user's directory `<dir>/outside` beside it. */
async function setup(): Promise<{ server: RunningTusport; store: string; outside: string }> {
  const server = await startTusport((dir) => ({
    endpoints: [{ path: '/users/{username}/files', store: { type: 'disk', directory: path.join(dir, 'store', '{username}') }, expire: '1h' }],
  }));
  cleanup.push(() => server.close());
  const store = path.join(server.dir, 'store');
  const outside = path.join(server.dir, 'outside');
  await mkdir(store, { recursive: true });
  await mkdir(outside);
  await writeFile(path.join(outside, 'precious.txt'), 'do not touch');
  return { server, store, outside };
}

/** HEAD has no body; every other answer, creation's included, is tusport's JSON. */
function expectOutsideStore(response: Awaited<ReturnType<typeof raw>>, body: 'json' | 'none'): void {
  expect(response.status, response.body).toBe(503);
  const message = 'The upload store refused a location: "mallory" leads outside the store';
  if (body === 'json') expect(JSON.parse(response.body)).toMatchObject({ statusCode: 503, code: 'TUSPORT_ERR_OUTSIDE_STORE', message });
  else expect(response.body).toBe('');
}

describe('symlinks inside the store', () => {
  it('a user directory that is a symlink out of the store: creation is refused (503) and nothing is written outside', async () => {
    const { server, store, outside } = await setup();
    await symlink(outside, path.join(store, 'mallory'));
    const response = await raw(server.url, { method: 'POST', path: '/users/mallory/files', headers: { ...TUS, 'Upload-Length': '5' } });
    expectOutsideStore(response, 'json');
    expect(response.headers.location).toBeUndefined();
    expect(await listTree(outside)).toEqual(['precious.txt']);
    // Uploads of other users are unaffected.
    expect((await raw(server.url, { method: 'POST', path: '/users/alice/files', headers: { ...TUS, 'Upload-Length': '5' } })).status).toBe(201);
  });

  it('an upload-looking pair outside, reached through such a symlink, is neither served nor written', async () => {
    const { server, store, outside } = await setup();
    const made = await createUpload(server.url, '/users/mallory/files', { 'Upload-Length': 5 });
    const id = made.split('/').pop() ?? '';
    // Someone moves mallory's directory out of the store and leaves a symlink in its place.
    await writeFile(path.join(outside, id), '');
    await writeFile(path.join(outside, `${id}.json`), await readFile(path.join(store, 'mallory', `${id}.json`)));
    await unlink(path.join(store, 'mallory', id));
    await unlink(path.join(store, 'mallory', `${id}.json`));
    await rmdir(path.join(store, 'mallory'));
    await symlink(outside, path.join(store, 'mallory'));

    expectOutsideStore(await raw(server.url, { method: 'HEAD', path: made, headers: TUS }), 'none');
    expectOutsideStore(await patch(server.url, made, 0, Buffer.from('12345')), 'json');
    expect(await readFile(path.join(outside, id), 'utf8')).toBe('');
  });

  it('a data file replaced by a symlink to a file outside is not this upload: PATCH is 404 and the file outside unchanged', async () => {
    const { server, store, outside } = await setup();
    const made = await createUpload(server.url, '/users/alice/files', { 'Upload-Length': 5 });
    const data = path.join(store, 'alice', made.split('/').pop() ?? '');
    await unlink(data);
    await symlink(path.join(outside, 'precious.txt'), data);
    const response = await patch(server.url, made, 0, Buffer.from('XXXXX'));
    expect(response.status, response.body).toBe(404);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'TUSPORT_ERR_NOT_FOUND' });
    expect(await readFile(path.join(outside, 'precious.txt'), 'utf8')).toBe('do not touch');
  });

  it('the sweep never descends a symlinked directory: expired-looking uploads and debris outside stay', async () => {
    const { server, store, outside } = await setup();
    const made = await createUpload(server.url, '/users/alice/files', { 'Upload-Length': 5 });
    const id = made.split('/').pop() ?? '';
    // Outside: a copy of a real sidecar (this endpoint, old) with its data, and a temp-shaped file.
    const sidecar = JSON.parse(await readFile(path.join(store, 'alice', `${id}.json`), 'utf8'));
    const foreignId = 'f'.repeat(32);
    await writeFile(path.join(outside, foreignId), 'user data');
    await writeFile(path.join(outside, `${foreignId}.json`), JSON.stringify({ ...sidecar, id: foreignId, creation_date: new Date(0).toISOString() }));
    await writeFile(path.join(outside, 'report.json.0123456789ab.tmp'), 'user data');
    const old = new Date(Date.now() - HOURS_2);
    await utimes(path.join(outside, 'report.json.0123456789ab.tmp'), old, old);
    await symlink(outside, path.join(store, 'linked'));
    const before = await listTree(outside);

    const result = await server.app.tusport.sweep(Date.now() + HOURS_2);
    expect(result).toEqual({ expired: 1, leftovers: 0, completed: 0, skipped: 0 });
    expect(await listTree(outside)).toEqual(before);
    expect((await raw(server.url, { method: 'HEAD', path: made, headers: TUS })).status).toBe(404);
  });
});
