import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, sha256File } from '../helpers/files.js';
import { createUpload, headOffset, TUS } from '../helpers/http.js';
import { capturingLogger, filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';
import { KiB, MiB } from './lib/fixtures.js';
import { rng, seededBytes, suiteSeed } from './lib/random.js';
import { resumableUpload, send } from './lib/resumable-client.js';
import { auditStore } from './lib/store-audit.js';

/**
 * Network drops mid-PATCH: 100 uploads whose PATCHes are cut at random byte counts (the client
 * writes part of the body, then destroys its socket). After each drop the client asks the server
 * (HEAD) where to resume: the server must have kept exactly the bytes that reached it, in place,
 * and never report an offset that goes backwards or past what was sent. Every upload then
 * completes byte-identical.
 */

const UPLOADS = 100;
const CONCURRENCY = 4;

let server: RunningTusport;
const log = capturingLogger('info');
beforeAll(async () => {
  server = await startTusport((dir) => filesEndpoint(dir), { logger: log.logger });
});
afterAll(async () => {
  await server?.close();
});

describe('client socket destroyed mid-PATCH', () => {
  it(`${UPLOADS} uploads with random drops resume from the server's offset and end identical`, { timeout: 240_000 }, async () => {
    const seed = suiteSeed('drops');
    // Other tests of this file share the server: count only what this one adds.
    const logMark = log.lines.length;
    // The store directory appears with the first upload: when this test runs first there is none yet.
    const existing = new Set(existsSync(path.join(server.dir, 'files')) ? (await auditStore(path.join(server.dir, 'files'))).uploads.keys() : []);
    const random = rng(seed, 'drops');
    const store = path.join(server.dir, 'files');
    let drops = 0;
    let exactAfterDrop = 0;
    let bytesVerified = 0;
    const sources = Array.from({ length: UPLOADS }, (_, index) => ({ index, data: seededBytes(seed, `drops-${index}`, random.int(64 * KiB, 2 * MiB)) }));

    const queue = [...sources];
    const worker = async () => {
      for (let source = queue.shift(); source; source = queue.shift()) {
        const own = random.fork(`upload-${source.index}`);
        const { data } = source;
        let patches = 0;
        /** Where the server must stand after the drop in flight: its offset plus the bytes sent. */
        let expectAfterDrop: number | undefined;
        let dropWhat = '';
        const result = await resumableUpload({
          baseUrl: server.url,
          endpoint: '/files',
          data,
          nextChunkSize: () => own.int(16 * KiB, 512 * KiB),
          // The first PATCH of every upload is dropped, later ones more often than not; anywhere
          // from "headers only" to one byte short of the whole body.
          dropAfter: (offset, length) => {
            patches += 1;
            if (patches > 1 && own.next() < 0.4) return undefined;
            const sent = own.int(0, length - 1);
            expectAfterDrop = offset + sent;
            dropWhat = `a PATCH at offset ${offset} dropped after ${sent} of its ${length} body bytes`;
            return sent;
          },
          onHead: async (offset, uploadPath) => {
            if (expectAfterDrop === undefined) return;
            drops += 1;
            // Everything written before the FIN reached the server over loopback: all of it is kept.
            expect(offset, `after ${dropWhat}`).toBe(expectAfterDrop);
            exactAfterDrop += 1;
            expectAfterDrop = undefined;
            // In place: the data file holds exactly the source's first `offset` bytes.
            const stored = await readFile(path.join(store, path.basename(uploadPath)));
            expect(stored.length).toBe(offset);
            expect(stored.equals(data.subarray(0, offset)), 'the kept bytes are the source prefix').toBe(true);
          },
          retryDelayMs: () => own.int(0, 20),
          requestTimeoutMs: 60_000,
          maxConsecutiveFailures: 5,
        });
        expect(result.drops).toBeGreaterThanOrEqual(1);
        expect(result.networkFailures, 'a drop is our own doing; nothing else failed').toBe(0);
        expect(await headOffset(server.url, result.uploadPath)).toBe(data.length);
        expect(await sha256File(path.join(store, path.basename(result.uploadPath)))).toBe(sha256(data));
        bytesVerified += data.length;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));

    const audit = await auditStore(store);
    const added = [...audit.uploads.entries()].filter(([id]) => !existing.has(id));
    expect(added).toHaveLength(UPLOADS);
    expect([...audit.dataWithoutSidecar, ...audit.sidecarWithoutData, ...audit.strangers, ...audit.tempSidecars.map((t) => t.name)]).toEqual([]);
    for (const [, upload] of added) expect(upload.sidecar?.tusport.completed_at).toEqual(expect.any(String));
    // Each dropped PATCH ended on its client's disconnect: none had to be cut by the next
    // request's lock hand-over (which would mean a PATCH that outlived its connection).
    const lines = log.lines.slice(logMark);
    const interrupted = lines.filter((line) => line.msg === 'PATCH interrupted; received bytes kept');
    expect(interrupted.filter((line) => String(line.reason).includes('Another request holds'))).toEqual([]);
    expect(lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
    console.log(`[drops] uploads=${UPLOADS} drops=${drops} exactOffsetAfterDrop=${exactAfterDrop} interruptedPatchesLogged=${interrupted.length} bytesVerified=${bytesVerified} (${(bytesVerified / MiB).toFixed(1)} MiB)`);
  });

  it('a client gone before its PATCH reached the upload: its bytes are kept and the lock freed without a hand-over', { timeout: 60_000 }, async () => {
    // Headers and a small body arrive with the FIN in one go, so the request is already destroyed
    // when the handler (after auth, lock and sidecar read) starts copying. The copy used to wait
    // for a 'close' that had already happened: the PATCH held the upload's lock (and an open file)
    // until another request for the upload forced a hand-over 3 s later, and the bytes that had
    // arrived were dropped.
    for (const sent of [0, 1, 1000, 12_000]) {
      const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 100_000 });
      const id = path.basename(uploadPath);
      const data = seededBytes(7, `early-${sent}`, 50_000);
      const headers = { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': 0, 'Content-Length': data.length };
      const outcome = await send(server.url, { method: 'PATCH', path: uploadPath, headers, body: data, dropAfter: sent, timeoutMs: 10_000 });
      expect(outcome.kind).toBe('dropped');
      // Nothing else touches the upload: the PATCH must end on its own.
      const ended = async () => log.lines.find((line) => line.msg === 'PATCH interrupted; received bytes kept' && line.uploadId === id);
      for (let waited = 0; !(await ended()) && waited < 20_000; waited += 50) await sleep(50);
      const line = await ended();
      expect(line, `the PATCH after ${sent} bytes never ended`).toBeDefined();
      expect(String(line?.reason)).not.toContain('Another request holds');
      expect(line?.offset).toBe(sent);
      expect(await headOffset(server.url, uploadPath)).toBe(sent);
      expect((await readFile(path.join(server.dir, 'files', id))).equals(data.subarray(0, sent))).toBe(true);
    }
  });
});
