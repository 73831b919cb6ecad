import { spawnSync } from 'node:child_process';
import { readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { listTree } from '../helpers/files.js';
import { createUpload, patch, raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * Issue 11, finding 1: a client must not be able to switch the expiry sweep off. A URL param is a
 * directory name the client chooses; one ending in `.tmp` was taken for tusport's crash debris,
 * `rm` failed on the directory and the whole sweep aborted (this endpoint and every later one).
 */

const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));
const HOURS_2 = 2 * 60 * 60 * 1000;
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const task of cleanup.splice(0).reverse()) await task();
});

const endpoints = (dir: string) => [
  { path: '/users/{username}/files', store: { type: 'disk' as const, directory: path.join(dir, 'users', '{username}') }, expire: '1h' },
  { path: '/files', store: { type: 'disk' as const, directory: path.join(dir, 'files') }, expire: '1h' },
];
const idOf = (uploadPath: string) => uploadPath.split('/').pop() ?? '';

/** Two unfinished uploads under the client-named `.tmp` directory's endpoint and one on the next endpoint. */
async function hostileStore(server: RunningTusport) {
  const hostile = await createUpload(server.url, '/users/evil.json.0123456789ab.tmp/files', { 'Upload-Length': 10 });
  expect((await patch(server.url, hostile, 0, Buffer.from('abc'))).status).toBe(204);
  const plainTmp = await createUpload(server.url, '/users/x.tmp/files', { 'Upload-Length': 10 });
  const later = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
  const finished = await createUpload(server.url, '/users/x.tmp/files', { 'Upload-Length': 2 });
  expect((await patch(server.url, finished, 0, Buffer.from('ok'))).status).toBe(204);
  // The directories the client named are old enough to be debris, if they were debris.
  const old = new Date(Date.now() - HOURS_2);
  for (const name of ['evil.json.0123456789ab.tmp', 'x.tmp']) await utimes(path.join(server.dir, 'users', name), old, old);
  return { hostile, plainTmp, later, finished };
}

describe('the sweep and client-named entries', () => {
  it('a URL param ending in .tmp is never taken for debris: the sweep goes on and expires every endpoint\'s uploads', async () => {
    const log = capturingLogger('info');
    const server = await startTusport((dir) => ({ endpoints: endpoints(dir) }), { logger: log.logger });
    cleanup.push(() => server.close());
    const { hostile, plainTmp, later, finished } = await hostileStore(server);

    expect(await server.app.tusport.sweep(Date.now() + HOURS_2)).toEqual({ expired: 3, leftovers: 0, completed: 0, skipped: 0 });
    for (const gone of [hostile, plainTmp, later]) expect((await raw(server.url, { method: 'HEAD', path: gone, headers: TUS })).status).toBe(404);
    // The finished upload and the client's directories themselves stay.
    expect((await raw(server.url, { method: 'GET', path: finished })).body).toBe('ok');
    expect((await stat(path.join(server.dir, 'users', 'x.tmp'))).isDirectory()).toBe(true);
    expect((await stat(path.join(server.dir, 'users', 'evil.json.0123456789ab.tmp'))).isDirectory()).toBe(true);
    expect(log.lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
  });

  it('`tusport cleanup` on such a store exits 0 and expires the uploads of every endpoint', async () => {
    const scratch = await tempDir();
    cleanup.push(() => scratch.remove());
    const server = await startTusport((dir) => ({ endpoints: endpoints(dir) }), { dir: scratch.dir });
    const { hostile, later, finished } = await hostileStore(server);
    await server.app.close();
    // Created two hours ago, as far as their sidecars say (the CLI sweeps at the real time).
    for (const [place, uploadPath] of [['users/evil.json.0123456789ab.tmp', hostile], ['files', later]] as const) {
      const file = path.join(scratch.dir, place, `${idOf(uploadPath)}.json`);
      const sidecar = JSON.parse(await readFile(file, 'utf8'));
      sidecar.creation_date = new Date(Date.now() - HOURS_2).toISOString();
      await writeFile(file, JSON.stringify(sidecar));
    }
    const config = path.join(scratch.dir, 'tusport.json');
    await writeFile(config, JSON.stringify({ endpoints: endpoints(scratch.dir) }));
    const run = spawnSync(process.execPath, [BIN, 'cleanup', '--config', config], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({ expired: 2, leftovers: 0, completed: 0, skipped: 0 });
    const left = await listTree(scratch.dir);
    for (const gone of [hostile, later]) expect(left.some((file) => file.includes(idOf(gone)))).toBe(false);
    expect(left).toContain(path.join('users', 'x.tmp', idOf(finished)));
  });

  it('only regular files of tusport\'s own temp-name shape are debris; an old one is removed', async () => {
    const server = await startTusport((dir) => ({ endpoints: endpoints(dir) }));
    cleanup.push(() => server.close());
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
    const store = path.join(server.dir, 'files');
    const debris = path.join(store, `${idOf(upload)}.json.0123456789ab.tmp`);
    // A name that merely ends in .tmp is not tusport's: left alone, however old.
    const foreign = path.join(store, 'notes.tmp');
    await writeFile(debris, '{');
    await writeFile(foreign, 'mine');
    const old = new Date(Date.now() - HOURS_2);
    await utimes(debris, old, old);
    await utimes(foreign, old, old);
    expect(await server.app.tusport.sweep()).toEqual({ expired: 0, leftovers: 1, completed: 0, skipped: 0 });
    expect(await listTree(store)).toEqual([idOf(upload), `${idOf(upload)}.json`, 'notes.tmp'].sort());
  });

  it('a finalized client file named like a sidecar, with sidecar-shaped content, is neither swept nor served as an upload', async () => {
    const server = await startTusport((dir) => ({
      endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, expire: '1h', finalize: { path: '{filename}' } }],
    }));
    cleanup.push(() => server.close());
    const forged = Buffer.from(
      JSON.stringify({ id: 'evil', size: 5, offset: 0, creation_date: new Date(0).toISOString(), tusport: { version: 1, endpoint: '/files', params: {}, owner: null } }),
    );
    const created = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': forged.length, 'Content-Type': 'application/offset+octet-stream', 'Upload-Metadata': `filename ${Buffer.from('evil.json').toString('base64')}` },
      body: forged,
    });
    expect(created.status, created.body).toBe(201);
    const store = path.join(server.dir, 'files');
    const old = new Date(Date.now() - HOURS_2);
    await utimes(path.join(store, 'evil.json'), old, old);
    const before = await listTree(store);
    expect(before).toContain('evil.json');

    expect(await server.app.tusport.sweep(Date.now() + HOURS_2)).toEqual({ expired: 0, leftovers: 0, completed: 0, skipped: 0 });
    expect(await listTree(store)).toEqual(before);
    expect((await raw(server.url, { method: 'HEAD', path: '/files/evil', headers: TUS })).status).toBe(404);
    expect((await raw(server.url, { method: 'GET', path: new URL(String(created.headers.location)).pathname })).bytes.equals(forged)).toBe(true);
  });
});
