import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sizeOf as fileSize } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { capturingLogger, filesEndpoint, requestArrived, type RunningTusport, startTusport } from '../helpers/server.js';
import { KiB } from './lib/fixtures.js';
import { openPatch } from './lib/open-patch.js';
import { rng, seededBytes, suiteSeed } from './lib/random.js';
import { type Outcome, resumableUpload, send } from './lib/resumable-client.js';
import { auditStore } from './lib/store-audit.js';

/**
 * Two requests on one upload at once. tusport locks each upload (@tus/server's MemoryLocker
 * semantics): a newcomer asks the holder to let go, the holder gets 3 s to finish, then its PATCH
 * is cut (its received bytes kept and acknowledged). Whatever the race, the stored bytes are one
 * writer's data (a prefix of it, then continued correctly), never a mix of two.
 */

let server: RunningTusport;
const log = capturingLogger('info');
let seed: number;
beforeAll(async () => {
  seed = suiteSeed('two-writers');
  server = await startTusport((dir) => filesEndpoint(dir), { logger: log.logger });
});
afterAll(async () => {
  await server?.close();
});
// Each case checks its own log lines, so a failure names the case that logged the error.
let logMark = 0;
beforeEach(() => {
  logMark = log.lines.length;
});
afterEach(() => {
  expect(log.lines.slice(logMark).filter((line) => Number(line.level) >= 50), 'error log lines in this case').toEqual([]);
});

const dataFile = (uploadPath: string) => path.join(server.dir, 'files', path.basename(uploadPath));
const sizeOf = (uploadPath: string) => fileSize(dataFile(uploadPath));
const stored = (uploadPath: string) => readFile(dataFile(uploadPath));
const status = (outcome: Outcome) => (outcome.kind === 'response' ? outcome.status : outcome.kind);
const offsetOf = (outcome: Outcome) => (outcome.kind === 'response' ? Number(outcome.headers['upload-offset']) : undefined);

/** Wait until the data file holds `bytes` bytes: the writer's PATCH is copying, so it holds the lock. */
async function untilStored(uploadPath: string, bytes: number): Promise<void> {
  for (let waited = 0; (await sizeOf(uploadPath)) !== bytes; waited += 10) {
    if (waited > 20_000) throw new Error(`${uploadPath} never reached ${bytes} bytes (has ${await sizeOf(uploadPath)})`);
    await sleep(10);
  }
}

/**
 * An upload of `size` seeded bytes with a PATCH in progress from `start` (the bytes before it
 * already stored): `sent` bytes of its body are on disk, so it holds the lock; the rest is unsent.
 */
async function midPatch(label: string, size: number, sent: number, start = 0) {
  const data = seededBytes(seed, label, size);
  const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': size });
  if (start > 0) expect((await patch(server.url, uploadPath, 0, data.subarray(0, start))).status).toBe(204);
  const writer = openPatch(server.url, uploadPath, start, size - start);
  await writer.write(data.subarray(start, start + sent));
  await untilStored(uploadPath, start + sent);
  return { data, uploadPath, writer };
}

/** Resume `data` from the server's offset to the end with a plain client. */
async function finish(uploadPath: string, data: Buffer): Promise<void> {
  const offset = await headOffset(server.url, uploadPath);
  if (offset < data.length) expect((await patch(server.url, uploadPath, offset, data.subarray(offset))).status).toBe(204);
}

describe('two writers on one upload', () => {
  it('both PATCH at offset 0 at the same moment: one wins whole, the other is refused; repeated', { timeout: 120_000 }, async () => {
    const random = rng(seed, 'simultaneous');
    const tally: Record<string, number> = {};
    for (let round = 0; round < 30; round += 1) {
      const size = random.int(1, 1536 * KiB);
      const a = seededBytes(seed, `sim-a-${round}`, size);
      const b = seededBytes(seed, `sim-b-${round}`, size);
      const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': size });
      const [ra, rb] = await Promise.all([patch(server.url, uploadPath, 0, a), patch(server.url, uploadPath, 0, b)]);
      const statuses = [ra.status, rb.status].sort();
      tally[statuses.join('+')] = (tally[statuses.join('+')] ?? 0) + 1;
      // Exactly one 204 for the whole body; the other finds the offset moved (409) or the lock busy (423).
      expect(statuses[0], `round ${round}: ${ra.status} ${ra.body} / ${rb.status} ${rb.body}`).toBe(204);
      expect([409, 423]).toContain(statuses[1]);
      const winner = ra.status === 204 ? a : b;
      expect(Number((ra.status === 204 ? ra : rb).headers['upload-offset'])).toBe(size);
      expect((await stored(uploadPath)).equals(winner), `round ${round}: the stored bytes are the winner's, unmixed`).toBe(true);
    }
    console.log(`[two-writers] simultaneous rounds=30 outcomes=${JSON.stringify(tally)}`);
  });

  it('a second PATCH at the same offset while the first is mid-body: the first finishes within the drain time, the second gets 409', { timeout: 60_000 }, async () => {
    const { data: a, uploadPath, writer: first } = await midPatch('drain-a', 600 * KiB, 200 * KiB);
    const b = seededBytes(seed, 'drain-b', 600 * KiB);
    const arrived = requestArrived(server, (request) => request.headers['x-request-id'] === 'drain-second');
    const second = send(server.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, 'X-Request-Id': 'drain-second', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0 }, body: b, timeoutMs: 30_000 });
    // The race this case names: the second PATCH is with the server before the first ends.
    await arrived;
    first.end(a.subarray(200 * KiB));
    const [r1, r2] = await Promise.all([first.response, second]);
    expect(status(r1)).toBe(204);
    expect(offsetOf(r1)).toBe(a.length);
    expect(status(r2)).toBe(409);
    expect(offsetOf(r2)).toBe(a.length);
    expect((await stored(uploadPath)).equals(a)).toBe(true);
  });

  it('a second PATCH at the same offset while the first stalls: the first is cut after the drain time, its bytes kept; the second gets 409; the first resumes', { timeout: 60_000 }, async () => {
    const sent = 123_457;
    const { data: a, uploadPath, writer: first } = await midPatch('stall-a', 500 * KiB, sent);
    const b = seededBytes(seed, 'stall-b', 500 * KiB);
    const second = await send(server.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0 }, body: b, timeoutMs: 30_000 });
    const r1 = await first.response;
    // The holder is cut and told what it got in; the newcomer then finds the offset moved.
    expect(status(r1)).toBe(204);
    expect(offsetOf(r1)).toBe(sent);
    expect(status(second)).toBe(409);
    expect(offsetOf(second)).toBe(sent);
    expect((await stored(uploadPath)).equals(a.subarray(0, sent))).toBe(true);
    await finish(uploadPath, a);
    expect((await stored(uploadPath)).equals(a)).toBe(true);
  });

  it('different offsets: a stale PATCH (behind) and one ahead of the offset both get 409 while a writer holds the upload', { timeout: 60_000 }, async () => {
    const start = 100 * KiB;
    const { data: a, uploadPath, writer } = await midPatch('offsets-a', 400 * KiB, 50 * KiB, start);
    const other = seededBytes(seed, 'offsets-b', 400 * KiB);
    const arrived = Promise.all(['behind', 'ahead'].map((id) => requestArrived(server, (request) => request.headers['x-request-id'] === id)));
    const behind = send(server.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, 'X-Request-Id': 'behind', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0 }, body: other, timeoutMs: 30_000 });
    const ahead = send(server.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, 'X-Request-Id': 'ahead', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': start * 2 }, body: other.subarray(0, 10 * KiB), timeoutMs: 30_000 });
    await arrived;
    writer.end(a.subarray(start + 50 * KiB));
    const [rw, rb, ra] = await Promise.all([writer.response, behind, ahead]);
    expect(status(rw)).toBe(204);
    expect(offsetOf(rw)).toBe(a.length);
    expect(status(rb)).toBe(409);
    expect(status(ra)).toBe(409);
    expect((await stored(uploadPath)).equals(a)).toBe(true);
  });

  it('a HEAD during a stalled PATCH: the PATCH is cut after the drain time, HEAD reports exactly what it kept, and the upload resumes', { timeout: 60_000 }, async () => {
    const sent = 77_777;
    const { data: a, uploadPath, writer } = await midPatch('head-a', 300 * KiB, sent);
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.status).toBe(200);
    expect(Number(head.headers['upload-offset'])).toBe(sent);
    const rw = await writer.response;
    expect(status(rw)).toBe(204);
    expect(offsetOf(rw)).toBe(sent);
    await finish(uploadPath, a);
    expect((await stored(uploadPath)).equals(a)).toBe(true);
  });

  it('a HEAD during a PATCH that keeps sending: HEAD waits for it and reports its end', { timeout: 60_000 }, async () => {
    const { data: a, uploadPath, writer } = await midPatch('head-b', 300 * KiB, 100 * KiB);
    const arrived = requestArrived(server, (request) => request.method === 'HEAD' && request.url === uploadPath);
    const head = raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    await arrived;
    writer.end(a.subarray(100 * KiB));
    expect(status(await writer.response)).toBe(204);
    expect(Number((await head).headers['upload-offset'])).toBe(a.length);
    expect((await stored(uploadPath)).equals(a)).toBe(true);
  });

  it('a DELETE during a stalled PATCH: the PATCH is cut, the upload is gone entirely, later requests get 404', { timeout: 60_000 }, async () => {
    const { data: a, uploadPath, writer } = await midPatch('delete-a', 300 * KiB, 64 * KiB);
    const deleted = await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS });
    expect(deleted.status).toBe(204);
    const rw = await writer.response;
    // Cut before the DELETE ran: acknowledged what it had (then deleted with the upload).
    expect(status(rw)).toBe(204);
    expect(await sizeOf(uploadPath)).toBeUndefined();
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(404);
    expect((await patch(server.url, uploadPath, 64 * KiB, a.subarray(64 * KiB))).status).toBe(404);
    const audit = await auditStore(path.join(server.dir, 'files'));
    expect(audit.uploads.has(path.basename(uploadPath))).toBe(false);
    expect(audit.tempSidecars.filter((t) => t.id === path.basename(uploadPath))).toEqual([]);
  });

  it('two resuming clients racing on one upload with the same data both finish it; the bytes are that data', { timeout: 120_000 }, async () => {
    // The realistic duplicate: one user, two tabs, the same file. Each client resumes from the
    // server's offset after a 409; together they must produce the file exactly once.
    const random = rng(seed, 'racing-clients');
    for (let round = 0; round < 5; round += 1) {
      const data = seededBytes(seed, `racing-${round}`, random.int(256 * KiB, 3 * 1024 * KiB));
      const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
      const client = (label: string) => {
        const own = random.fork(`${round}-${label}`);
        return resumeExisting(uploadPath, data, () => own.int(16 * KiB, 256 * KiB));
      };
      await Promise.all([client('one'), client('two')]);
      expect((await stored(uploadPath)).equals(data), `round ${round}`).toBe(true);
    }
  });
});

/** A client that resumes an existing upload from the server's offset until it is complete. */
async function resumeExisting(uploadPath: string, data: Buffer, chunk: () => number): Promise<void> {
  for (let attempts = 0; attempts < 1000; attempts += 1) {
    const offset = await headOffset(server.url, uploadPath);
    if (offset === data.length) return;
    const length = Math.min(chunk(), data.length - offset);
    const response = await patch(server.url, uploadPath, offset, data.subarray(offset, offset + length));
    expect([204, 409, 423], response.body).toContain(response.status);
  }
  throw new Error(`${uploadPath} did not complete`);
}
