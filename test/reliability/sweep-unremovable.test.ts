import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { listTree } from '../helpers/files.js';
import { createUpload } from '../helpers/http.js';
import { capturingLogger, startTusport } from '../helpers/server.js';

/**
 * Issue 11, finding 1: the sweep never aborts on one bad entry. An expired upload it cannot remove
 * (its directory is a read-only bind mount: root ignores file modes) is logged and skipped, and
 * the expired uploads after it, on this endpoint and the next, are still removed.
 */

const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const task of cleanup.splice(0).reverse()) await task();
});

it('an expired upload the sweep cannot remove is skipped and logged; the rest is swept', async () => {
  const log = capturingLogger('info');
  const server = await startTusport(
    (dir) => ({
      endpoints: [
        { path: '/users/{username}/files', store: { type: 'disk', directory: path.join(dir, 'users', '{username}') }, expire: '1h' },
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, expire: '1h' },
      ],
    }),
    { logger: log.logger },
  );
  cleanup.push(() => server.close());
  const stuck = await createUpload(server.url, '/users/stuck/files', { 'Upload-Length': 10 });
  await createUpload(server.url, '/users/zed/files', { 'Upload-Length': 10 });
  await createUpload(server.url, '/files', { 'Upload-Length': 10 });
  const readOnly = path.join(server.dir, 'users', 'stuck');
  execFileSync('mount', ['--bind', readOnly, readOnly], { stdio: 'pipe' });
  cleanup.push(() => void execFileSync('umount', [readOnly]));
  execFileSync('mount', ['-o', 'remount,bind,ro', readOnly], { stdio: 'pipe' });

  const result = await server.app.tusport.sweep(Date.now() + 2 * 60 * 60 * 1000);
  expect(result).toEqual({ expired: 2, leftovers: 0, completed: 0, skipped: 1 });
  const id = stuck.split('/').pop() ?? '';
  expect(await listTree(server.dir)).toEqual([path.join('users', 'stuck', id), path.join('users', 'stuck', `${id}.json`)]);
  const warning = log.lines.find((line) => line.msg === 'sweep skipped an entry it could not handle');
  expect(warning).toMatchObject({ endpoint: '/users/{username}/files', file: path.join(readOnly, `${id}.json`), err: { code: 'EROFS' } });
});
