import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw, type RawResponse, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport } from '../helpers/server.js';
import { serveOnTmpfs, type TmpfsServer } from './lib/tmpfs.js';

/**
 * The store's filesystem turns read-only under a running server (what Linux does to a disk after
 * I/O errors). Root ignores file modes, so this is a real tmpfs remounted `ro`: every write fails
 * with EROFS. Writes get 503 TUSPORT_ERR_STORAGE in tusport's format with the cause logged, reads
 * still work, nothing is lost, and the upload completes once the disk is writable again.
 */

let disk: TmpfsServer;
let server: RunningTusport;
let mountPoint: string;
const log = capturingLogger('info');
const remount = (mode: 'ro' | 'rw') => execFileSync('mount', ['-o', `remount,${mode}`, mountPoint], { stdio: 'pipe' });

beforeAll(async () => {
  disk = await serveOnTmpfs('disk-readonly', 8 * 1024 * 1024, log.logger);
  ({ server, mountPoint } = disk);
});
afterAll(() => disk?.stop());

function expectStorageFailed(response: RawResponse): void {
  expect(response.status, response.body).toBe(503);
  expect(JSON.parse(response.body)).toEqual({ statusCode: 503, code: 'TUSPORT_ERR_STORAGE', error: 'Service Unavailable', message: 'The upload store failed; retry later' });
}

describe('the store turns read-only', () => {
  it('writes get 503 TUSPORT_ERR_STORAGE (cause logged, not sent), reads still work, and the upload completes once writable again', async () => {
    const store = path.join(mountPoint, 'files');
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
    expect((await patch(server.url, uploadPath, 0, '01234')).status).toBe(204);
    const before = await listTree(store);
    remount('ro');
    try {
      const marks = log.lines.length;
      expectStorageFailed(await patch(server.url, uploadPath, 5, '56789'));
      expectStorageFailed(await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '3' } }));
      expectStorageFailed(await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS }));
      const causes = log.lines.slice(marks).filter((line) => line.msg === 'upload store failed').map((line) => (line.err as { code?: string }).code);
      expect(causes.length).toBeGreaterThanOrEqual(3);
      expect(new Set(causes)).toEqual(new Set(['EROFS']));
      // Reads are fine: the offset is where the last acknowledged PATCH left it.
      expect(await headOffset(server.url, uploadPath)).toBe(5);
      expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
      expect(await listTree(store)).toEqual(before);
    } finally {
      remount('rw');
    }
    expect((await patch(server.url, uploadPath, 5, '56789')).status).toBe(204);
    expect(await readFile(path.join(store, idOf(uploadPath)), 'utf8')).toBe('0123456789');
    expect((await raw(server.url, { method: 'GET', path: uploadPath })).body).toBe('0123456789');
  });
});
