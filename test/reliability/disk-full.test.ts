import { readFile, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../helpers/files.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport } from '../helpers/server.js';
import { KiB, MiB } from './lib/fixtures.js';
import { seededBytes, suiteSeed } from './lib/random.js';
import { auditStore } from './lib/store-audit.js';
import { serveOnTmpfs, type TmpfsServer } from './lib/tmpfs.js';

/**
 * The store's disk fills up: an 8 MiB tmpfs. A PATCH past capacity gets 507 with tusport's JSON
 * error, keeps what fit, tusport stays up, earlier uploads stay intact, and once space is freed
 * (DELETE of another upload) the upload resumes from the kept bytes and completes identical.
 */

const CAPACITY = 8 * MiB;
let disk: TmpfsServer;
let server: RunningTusport;
let mountPoint: string;
let seed: number;
const log = capturingLogger('info');

beforeAll(async () => {
  seed = suiteSeed('disk-full');
  disk = await serveOnTmpfs('disk-full', CAPACITY, log.logger);
  ({ server, mountPoint } = disk);
});
afterAll(() => disk?.stop());

// Each case checks its own log: no error other than the full disk, and a failure names the case.
let logMark = 0;
beforeEach(async () => {
  logMark = log.lines.length;
  // Every case starts from an empty disk, whatever ran before it (in any order).
  await rm(store(), { recursive: true, force: true });
});
afterEach(() => {
  const storageFull = (line: Record<string, unknown>) =>
    line.msg === 'could not record completion in the sidecar' || (line.err as { code?: string } | undefined)?.code === 'TUSPORT_ERR_STORAGE_FULL';
  expect(log.lines.slice(logMark).filter((line) => Number(line.level) >= 50 && !storageFull(line)), 'error log lines in this case').toEqual([]);
});

const store = () => path.join(mountPoint, 'files');
const free = async () => {
  const stats = await statfs(mountPoint);
  return stats.bavail * stats.bsize;
};
const download = async (uploadPath: string) => sha256((await raw(server.url, { method: 'GET', path: uploadPath })).bytes);
const healthy = async () => (await raw(server.url, { method: 'GET', path: '/healthz' })).status;
const finishedLines = (id: string) => log.lines.filter((line) => line.msg === 'upload finished' && line.uploadId === id).length;

function expectStorageFull(response: Awaited<ReturnType<typeof raw>>): void {
  expect(response.status, response.body).toBe(507);
  expect(JSON.parse(response.body)).toEqual({
    statusCode: 507,
    code: 'TUSPORT_ERR_STORAGE_FULL',
    error: 'Insufficient Storage',
    message: 'The upload store is out of space; bytes received so far are kept, retry later',
  });
}

describe('the store runs out of space', () => {
  it('a PATCH past capacity gets 507, keeps what fit, and resumes to completion once a DELETE frees space', { timeout: 120_000 }, async () => {
    const a = seededBytes(seed, 'full-a', 3 * MiB);
    const b = seededBytes(seed, 'full-b', 2 * MiB);
    const c = seededBytes(seed, 'full-c', 4 * MiB);
    const uploadA = await createUpload(server.url, '/files', { 'Upload-Length': a.length });
    expect((await patch(server.url, uploadA, 0, a)).status).toBe(204);
    const uploadB = await createUpload(server.url, '/files', { 'Upload-Length': b.length });
    expect((await patch(server.url, uploadB, 0, b)).status).toBe(204);

    const uploadC = await createUpload(server.url, '/files', { 'Upload-Length': c.length });
    const room = await free();
    expect(room).toBeLessThan(c.length);
    expectStorageFull(await patch(server.url, uploadC, 0, c));
    expect(await healthy()).toBe(200);

    // What fit is kept, in place, and reported; nothing past it.
    const kept = await headOffset(server.url, uploadC);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(room);
    expect((await readFile(path.join(store(), path.basename(uploadC)))).equals(c.subarray(0, kept))).toBe(true);
    // Still full: another attempt is refused the same way and moves nothing backwards.
    const again = await patch(server.url, uploadC, kept, c.subarray(kept));
    expectStorageFull(again);
    expect(await headOffset(server.url, uploadC)).toBeGreaterThanOrEqual(kept);

    // The finished uploads are untouched.
    expect(await download(uploadA)).toBe(sha256(a));
    expect(await download(uploadB)).toBe(sha256(b));

    // Free space by deleting A; C resumes from the server's offset and completes.
    expect((await raw(server.url, { method: 'DELETE', path: uploadA, headers: TUS })).status).toBe(204);
    const resumeAt = await headOffset(server.url, uploadC);
    expect((await patch(server.url, uploadC, resumeAt, c.subarray(resumeAt))).status).toBe(204);
    expect(await download(uploadC)).toBe(sha256(c));
    expect(await download(uploadB)).toBe(sha256(b));
    expect(finishedLines(path.basename(uploadC))).toBe(1);
    const sidecar = JSON.parse(await readFile(path.join(store(), `${path.basename(uploadC)}.json`), 'utf8'));
    expect(sidecar.tusport.completed_at).toEqual(expect.any(String));
    console.log(`[disk-full] capacity=${CAPACITY} keptAt507=${kept} of ${c.length} bytesVerified=${b.length * 2 + c.length + kept}`);

  });

  it('creating an upload on a full store gets 507, not a 500, and leaves nothing behind', { timeout: 60_000 }, async () => {
    const filler = await createUpload(server.url, '/files', { 'Upload-Defer-Length': 1 });
    const data = seededBytes(seed, 'filler', CAPACITY);
    const response = await patch(server.url, filler, 0, data);
    expectStorageFull(response);
    const before = await auditStore(store());
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
    expect(created.status, created.body).toBe(507);
    expect(await healthy()).toBe(200);
    const after = await auditStore(store());
    expect([...after.uploads.keys()]).toEqual([...before.uploads.keys()]);
    expect(after.tempSidecars, 'temp sidecars left by the failed creation').toEqual([]);
  });

  it('an upload that fills the disk to its last byte: its completion is recorded exactly once, when space returns', { timeout: 60_000 }, async () => {
    // A spare upload whose deletion will give the space back.
    const spare = seededBytes(seed, 'spare', 512 * KiB);
    const spareUpload = await createUpload(server.url, '/files', { 'Upload-Length': spare.length });
    expect((await patch(server.url, spareUpload, 0, spare)).status).toBe(204);
    // Deferred length: declared by the PATCH, sized so its bytes take every free block and
    // the sidecar update that records completion finds none.
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Defer-Length': 1 });
    const id = path.basename(uploadPath);
    const size = await free();
    const data = seededBytes(seed, 'exact', size);
    const last = await patch(server.url, uploadPath, 0, data, { 'Upload-Length': String(size) });
    expect(await free()).toBe(0);
    // All bytes are stored but the sidecar cannot record completion: the upload is not done yet
    // (no finalize, no onUploadDone) and the client is told to come back; it was once answered
    // 204 with completion unrecorded, and then completed a second time by the next HEAD.
    expect(last.status, last.body).toBe(507);
    expect(errorOf(last).code).toBe('TUSPORT_ERR_STORAGE_FULL');
    expect(finishedLines(id)).toBe(0);
    expect((await raw(server.url, { method: 'DELETE', path: spareUpload, headers: TUS })).status).toBe(204);
    // The client comes back (tus-js-client: HEAD, sees offset == length, done).
    expect(await headOffset(server.url, uploadPath)).toBe(size);
    const sidecar = JSON.parse(await readFile(path.join(store(), `${id}.json`), 'utf8'));
    expect(sidecar.tusport.completed_at, 'completion recorded').toEqual(expect.any(String));
    expect(await download(uploadPath)).toBe(sha256(data));
    expect(finishedLines(id), '"upload finished" log lines').toBe(1);
  });
});
