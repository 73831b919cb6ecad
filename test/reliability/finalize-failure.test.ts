import { execFileSync } from 'node:child_process';
import { link, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { until } from '../helpers/cli.js';
import { createUpload, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * Issue 11, finding 7: a finalize that fails for any reason but a name clash must not lose the
 * upload's completion. Completion was recorded before finalize; an EROFS/ENOSPC/unsafe-path error
 * answered 500 and the client's retry got 204 with nothing redone: never finalized, no post-finish.
 * Now completion is received -> finalized -> notified in the sidecar; a step that cannot be done
 * answers 503/507 and is carried on by the next HEAD/PATCH or by the sweep.
 *
 * The finalize directory is made read-only with a read-only bind mount (root ignores file modes,
 * and the tests run as root), and "fixed" by unmounting it.
 */

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const task of cleanup.splice(0).reverse()) await task();
});

interface Setup {
  server: RunningTusport;
  store: string;
  done: string[];
  finished: HookRequest[];
}

async function setup(): Promise<Setup> {
  const scratch = await tempDir('tusport-finalize-');
  cleanup.push(() => scratch.remove());
  const done: string[] = [];
  const finished: HookRequest[] = [];
  const server = await startTusport(
    (dir) => ({
      outbox: { directory: path.join(dir, 'outbox') },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          finalize: { path: 'done/{filename}' },
          onUploadDone: async (upload) => void done.push(upload.id),
          hooks: [{ type: 'function', handlers: { 'post-finish': async (request) => void finished.push(request) } }],
        },
      ],
    }),
    { dir: scratch.dir },
  );
  cleanup.push(() => server.app.close());
  return { server, store: path.join(scratch.dir, 'files'), done, finished };
}

/** Make `directory` read-only (a read-only bind mount of itself); returns the fix (unmount). */
function readOnly(directory: string): () => void {
  try {
    execFileSync('mount', ['--bind', directory, directory], { stdio: 'pipe' });
    execFileSync('mount', ['-o', 'remount,bind,ro', directory], { stdio: 'pipe' });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`finalize-failure needs a read-only bind mount ("mount --bind", as root): ${stderr || (error as Error).message}`);
  }
  let mounted = true;
  const fix = () => {
    if (mounted) execFileSync('umount', [directory]);
    mounted = false;
  };
  cleanup.push(async () => fix());
  return fix;
}

const sidecarOf = async (store: string, uploadPath: string) => JSON.parse(await readFile(path.join(store, `${uploadPath.split('/').pop()}.json`), 'utf8'));
const named = (name: string) => ({ 'Upload-Metadata': `filename ${Buffer.from(name).toString('base64')}` });

function expectUnavailable(response: Awaited<ReturnType<typeof raw>>): void {
  expect(response.status, response.body).toBe(503);
  expect(JSON.parse(response.body)).toEqual({ statusCode: 503, code: 'TUSPORT_ERR_STORAGE', error: 'Service Unavailable', message: 'The upload store failed; retry later' });
}

describe('a finalize the store refuses', () => {
  it('PATCH answers 503 while it cannot be done, HEAD reports the received bytes, and once fixed the next HEAD finalizes and notifies exactly once', async () => {
    const { server, store, done, finished } = await setup();
    await mkdir(path.join(store, 'done'), { recursive: true });
    const fix = readOnly(path.join(store, 'done'));
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 5, ...named('a.txt') });

    expectUnavailable(await patch(server.url, upload, 0, Buffer.from('hello')));
    // A retried PATCH is not told "done" while the step still fails.
    expectUnavailable(await patch(server.url, upload, 5, Buffer.alloc(0)));
    // HEAD tells the truth about the bytes (all received: a 503 would make tus-js-client start a
    // new upload) and leaves the rest to be carried on.
    const stalled = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(stalled.status).toBe(200);
    expect(stalled.headers['upload-offset']).toBe('5');
    // The bytes are received and recorded; the rest is still to do.
    expect((await sidecarOf(store, upload)).tusport).toMatchObject({ completion: 'received', completed_at: expect.any(String) });
    expect((await sidecarOf(store, upload)).tusport.final_path).toBeUndefined();
    expect(done).toEqual([]);

    fix();
    const head = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('5');
    expect(await readFile(path.join(store, 'done', 'a.txt'), 'utf8')).toBe('hello');
    expect((await sidecarOf(store, upload)).tusport).toMatchObject({ completion: 'notified', final_path: 'done/a.txt' });
    expect(done).toEqual([upload.split('/').pop()]);
    await until(() => finished.length === 1, 'post-finish');
    expect(finished[0]?.Tusport.FinalPath).toBe('done/a.txt');
    // Nothing is redone once it is done.
    expect((await patch(server.url, upload, 5, Buffer.alloc(0))).status).toBe(204);
    expect((await raw(server.url, { method: 'GET', path: upload })).body).toBe('hello');
    expect(done).toHaveLength(1);
  });

  it('the sweep carries a stalled completion on when the client never comes back', async () => {
    const { server, store, done, finished } = await setup();
    await mkdir(path.join(store, 'done'), { recursive: true });
    const fix = readOnly(path.join(store, 'done'));
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 3, ...named('b.txt') });
    expectUnavailable(await patch(server.url, upload, 0, Buffer.from('abc')));
    // Still read-only: the sweep tries, logs, and goes on.
    const stalled = await server.app.tusport.sweep();
    fix();
    const resumed = await server.app.tusport.sweep();
    expect(await readFile(path.join(store, 'done', 'b.txt'), 'utf8')).toBe('abc');
    expect(stalled).toEqual({ expired: 0, leftovers: 0, completed: 0, skipped: 1 });
    expect(resumed).toEqual({ expired: 0, leftovers: 0, completed: 1, skipped: 0 });
    expect((await sidecarOf(store, upload)).tusport.completion).toBe('notified');
    expect(done).toHaveLength(1);
    await until(() => finished.length === 1, 'post-finish');
    // A second sweep has nothing left to do.
    expect(await server.app.tusport.sweep()).toEqual({ expired: 0, leftovers: 0, completed: 0, skipped: 0 });
  });

  it('an upload a crash left with every byte stored but completion never recorded is completed by the sweep', async () => {
    const { server, store, done, finished } = await setup();
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 4, ...named('e.txt') });
    // What a PATCH that fsynced its bytes leaves when the process dies before recording completion.
    await writeFile(path.join(store, upload.split('/').pop() ?? ''), 'abcd');
    const result = await server.app.tusport.sweep();
    expect(await readFile(path.join(store, 'done', 'e.txt'), 'utf8')).toBe('abcd');
    expect(result).toEqual({ expired: 0, leftovers: 0, completed: 1, skipped: 0 });
    expect((await sidecarOf(store, upload)).tusport).toMatchObject({ completion: 'notified', final_path: 'done/e.txt', completed_at: expect.any(String) });
    expect(done).toHaveLength(1);
    await until(() => finished.length === 1, 'post-finish');
  });

  it('a move a failure interrupted half-way (file and its sidecar placed, the upload\'s sidecar not) is finished, not called taken', async () => {
    const { server, store, done } = await setup();
    await mkdir(path.join(store, 'done'), { recursive: true });
    const fix = readOnly(path.join(store, 'done'));
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 4, ...named('d.txt') });
    expectUnavailable(await patch(server.url, upload, 0, Buffer.from('data')));
    fix();
    // What an attempt that got as far as placing the file and its sidecar leaves behind.
    const id = upload.split('/').pop() ?? '';
    const sidecar = await sidecarOf(store, upload);
    await link(path.join(store, id), path.join(store, 'done', 'd.txt'));
    await writeFile(path.join(store, 'done', 'd.txt.json'), JSON.stringify({ ...sidecar, tusport: { ...sidecar.tusport, final_path: 'done/d.txt' } }));

    const head = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(head.status).toBe(200);
    expect((await sidecarOf(store, upload)).tusport).toMatchObject({ completion: 'notified', final_path: 'done/d.txt' });
    expect((await readdir(store)).sort()).toEqual(['done', `${id}.json`].sort());
    expect((await readdir(path.join(store, 'done'))).sort()).toEqual(['d.txt', 'd.txt.json']);
    expect((await raw(server.url, { method: 'GET', path: upload })).body).toBe('data');
    expect(done).toHaveLength(1);
  });

  it('a finalize directory that leads out of the store: 503 (not 500) until it is fixed, then completed', async () => {
    const { server, store, done } = await setup();
    const outside = path.join(path.dirname(store), 'outside');
    await mkdir(outside);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 2, ...named('c.txt') });
    // Made after creation (which checks the final path early and would refuse it already).
    await symlink(outside, path.join(store, 'done'));
    const response = await patch(server.url, upload, 0, Buffer.from('hi'));
    expect(response.status, response.body).toBe(503);
    expect(JSON.parse(response.body)).toMatchObject({ code: 'TUSPORT_ERR_FINAL_PATH_UNSAFE' });
    expect(done).toEqual([]);
    expect(await readdir(outside)).toEqual([]);
    await rm(path.join(store, 'done'));
    expect((await patch(server.url, upload, 2, Buffer.alloc(0))).status).toBe(204);
    expect(await readFile(path.join(store, 'done', 'c.txt'), 'utf8')).toBe('hi');
    expect(done).toHaveLength(1);
  });
});
