import { appendFile, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/stores/sidecar.js';
import { sha256, sha256File } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { killAll, type Running } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { finishedIds, KiB, MiB, stop, writeServeConfig } from './lib/fixtures.js';
import { rng, seededBytes, suiteSeed } from './lib/random.js';
import { type ResumableResult, resumableUpload } from './lib/resumable-client.js';
import { auditStore } from './lib/store-audit.js';

/**
 * SIGKILL at random moments: 20 uploads of up to 64 MiB against the real `tusport serve` process,
 * killed several times mid-transfer and restarted on the same port; the clients retry and resume
 * from the server's offset. Afterwards every upload is byte-identical to its source, completed
 * exactly once, and the store holds nothing unaccounted for.
 */

const UPLOADS = 20;
const MAX_SIZE = 64 * MiB;
const KILLS = 8;
const CONCURRENCY = 4;

let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  scratch = await tempDir('tusport-crash-');
});
afterAll(async () => {
  await killAll();
  await scratch?.remove();
});

describe('SIGKILL during uploads', () => {
  it(`${UPLOADS} uploads survive ${KILLS} kills and restarts byte-identical, each completed once`, { timeout: 300_000 }, async () => {
    const seed = suiteSeed('crash');
    const random = rng(seed, 'crash');
    const dir = path.join(scratch.dir, 'run');
    await mkdir(dir);
    const setup = await writeServeConfig(dir);

    const sources = Array.from({ length: UPLOADS }, (_, index) => {
      const data = seededBytes(seed, `crash-${index}`, random.int(1, MAX_SIZE));
      return { index, data, sha: sha256(data), tag: `${seed}-${index}` };
    });
    const totalBytes = sources.reduce((sum, source) => sum + source.data.length, 0);
    // Kills land when the clients' progress passes random points of the total, then after a
    // random delay: mid-PATCH, mid-creation, between requests, wherever it falls.
    const killPoints = Array.from({ length: KILLS }, () => random.int(0, totalBytes)).sort((a, b) => a - b);

    const processes: Running[] = [];
    let server = await setup.start();
    processes.push(server);
    let kills = 0;
    let sent = 0;
    let killing: Promise<void> | undefined;
    const killer = random.fork('killer');
    const killAndRestart = async () => {
      await sleep(killer.int(0, 300));
      const exit = await stop(server, 'SIGKILL');
      expect(exit.signal, `tusport exited on its own: ${server.output.stderr}`).toBe('SIGKILL');
      kills += 1;
      // Down for a moment: clients meet refused connections and back off.
      await sleep(killer.int(0, 500));
      server = await setup.start();
      processes.push(server);
    };
    const onSending = (bytes: number) => {
      sent += bytes;
      if (killing || kills >= killPoints.length) return;
      const next = killPoints[kills];
      if (next !== undefined && sent >= next) {
        killing = killAndRestart().finally(() => {
          killing = undefined;
        });
      }
    };

    const results = new Map<number, ResumableResult>();
    const queue = [...sources];
    const worker = async () => {
      for (let source = queue.shift(); source; source = queue.shift()) {
        const own = random.fork(`upload-${source.index}`);
        const result = await resumableUpload({
          baseUrl: setup.url,
          endpoint: '/files',
          data: source.data,
          metadata: { filename: `source-${source.index}.bin`, source: source.tag },
          nextChunkSize: () => own.int(64 * KiB, 16 * MiB),
          retryDelayMs: () => own.int(50, 400),
          onSending,
        });
        results.set(source.index, result);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    while (killing) await killing;
    // Kill points past the last byte sent are not reached; the run needs "several" to mean something.
    expect(kills).toBeGreaterThanOrEqual(KILLS - 2);

    // Every upload: the server's offset is its length, its bytes are the source's.
    let bytesVerified = 0;
    for (const source of sources) {
      const result = results.get(source.index);
      if (!result) throw new Error(`upload ${source.index} has no result`);
      expect(await headOffset(setup.url, result.uploadPath), `upload ${source.index}`).toBe(source.data.length);
      const stored = path.join(setup.store, path.basename(result.uploadPath));
      expect(await sha256File(stored), `upload ${source.index} (${result.uploadPath})`).toBe(source.sha);
      bytesVerified += source.data.length;
    }
    // Served back as well (a few: the disk check above already covered every byte).
    for (const source of sources.slice(0, 3)) {
      const download = await raw(setup.url, { method: 'GET', path: results.get(source.index)?.uploadPath ?? '' });
      expect(download.status).toBe(200);
      expect(sha256(download.bytes)).toBe(source.sha);
    }

    // The store: nothing unaccounted for.
    const audit = await auditStore(setup.store);
    expect(audit.dataWithoutSidecar, 'data files without a sidecar').toEqual([]);
    expect(audit.strangers, 'files a disk store never writes').toEqual([]);
    const ours = new Map([...results.entries()].map(([index, result]) => [path.basename(result.uploadPath), index]));
    const lostPosts = [...results.values()].reduce((sum, result) => sum + result.lostPosts, 0);
    // Only a POST whose answer the kill swallowed can leave an upload its client never learned
    // of: created and empty (the expiry sweep's business), or creation debris the sweep removes
    // (a sidecar whose data file the kill prevented, a temp sidecar never renamed into place).
    const abandonedBy = (what: string, sidecar: Sidecar | undefined) => {
      const owner = sources.find((source) => source.tag === sidecar?.metadata?.source);
      expect(owner, `${what} belongs to no source: ${JSON.stringify(sidecar)}`).toBeDefined();
      expect(results.get(owner?.index ?? -1)?.lostPosts, `${what}: its client never lost a POST`).toBeGreaterThan(0);
      expect(sidecar?.tusport.completed_at, what).toBeUndefined();
    };
    let abandoned = 0;
    for (const upload of audit.uploads.values()) {
      const index = ours.get(upload.id);
      if (index === undefined) {
        abandoned += 1;
        abandonedBy(`upload ${upload.id}`, upload.sidecar);
        expect(upload.dataSize ?? 0, `abandoned upload ${upload.id} has bytes`).toBe(0);
        continue;
      }
      const source = sources[index];
      expect(upload.sidecar?.size).toBe(source?.data.length);
      expect(upload.sidecar?.metadata?.source).toBe(source?.tag);
      expect(upload.dataSize).toBe(source?.data.length);
      expect(upload.sidecar?.tusport.completed_at, `upload ${index} is complete but its sidecar never recorded it`).toEqual(expect.any(String));
    }
    for (const temp of audit.tempSidecars) {
      // A kill during an atomic sidecar write leaves its temp file, never a torn sidecar.
      if (ours.has(temp.id)) continue;
      if (!audit.uploads.has(temp.id)) abandoned += 1;
      if (temp.sidecar) abandonedBy(`temp sidecar ${temp.name}`, temp.sidecar);
    }
    expect(abandoned).toBeLessThanOrEqual(lostPosts);

    // Completed exactly once: every sidecar above records completion, and no upload was logged
    // as finished twice over all the process lifetimes (log lines still in pino's async buffer
    // die with a SIGKILL, so a missing line proves nothing; a second one would).
    const finished = processes.flatMap(finishedIds);
    for (const id of ours.keys()) expect(finished.filter((f) => f === id).length, `"upload finished" lines for ${id}`).toBeLessThanOrEqual(1);
    expect(finished.filter((id) => !ours.has(id))).toEqual([]);
    for (const process_ of processes) expect(process_.output.stderr, 'tusport stderr').toBe('');
    const logged = new Set(finished).size;

    const totals = [...results.values()].reduce(
      (sum, r) => ({ patches: sum.patches + r.patches, failures: sum.failures + r.networkFailures, kept: sum.kept + r.keptUnacknowledged, sent: sum.sent + r.bytesSent }),
      { patches: 0, failures: 0, kept: 0, sent: 0 },
    );
    console.log(
      `[crash] uploads=${UPLOADS} kills=${kills} bytesVerified=${bytesVerified} (${(bytesVerified / MiB).toFixed(1)} MiB) patches=${totals.patches} ` +
        `networkFailures=${totals.failures} resumedWithUnacknowledgedBytesKept=${totals.kept} bytesSentInclResends=${totals.sent} ` +
        `lostPosts=${lostPosts} abandonedUploads=${abandoned} tempSidecars=${audit.tempSidecars.length} processes=${processes.length} ` +
        `finishedLogLines=${logged}/${UPLOADS}`,
    );
    await stop(server, 'SIGTERM');
  });

  it('a kill after the last byte is stored but before completion is recorded: the next HEAD completes it', { timeout: 60_000 }, async () => {
    // The state a SIGKILL leaves when it lands between the final PATCH's fsync and the sidecar
    // update: every byte on disk, no completed_at. The client's HEAD then says offset == length, so
    // tus-js-client (like any tus client) reports success and sends nothing more: the server must
    // finish the job then, or the upload is never marked done (no completed_at, no finalize, no
    // onUploadDone).
    const dir = path.join(scratch.dir, 'completion');
    await mkdir(dir);
    const setup = await writeServeConfig(dir);
    const data = seededBytes(1, 'completion', 300 * KiB);
    const before = await setup.start();
    const uploadPath = await createUpload(setup.url, '/files', { 'Upload-Length': data.length });
    const cut = data.length - 1000;
    expect((await patch(setup.url, uploadPath, 0, data.subarray(0, cut))).status).toBe(204);
    await stop(before, 'SIGKILL');
    const stored = path.join(setup.store, path.basename(uploadPath));
    await appendFile(stored, data.subarray(cut));

    const after = await setup.start();
    await tusUpload(data, { uploadUrl: `${setup.url}${uploadPath}` });
    const sidecar = JSON.parse(await readFile(`${stored}.json`, 'utf8'));
    expect(sidecar.tusport.completed_at).toEqual(expect.any(String));
    expect(await sha256File(stored)).toBe(sha256(data));
    // Once: neither a second HEAD nor a retried empty final PATCH records it again.
    expect((await raw(setup.url, { method: 'HEAD', path: uploadPath, headers: TUS })).status).toBe(200);
    expect((await patch(setup.url, uploadPath, data.length, Buffer.alloc(0))).status).toBe(204);
    expect(JSON.parse(await readFile(`${stored}.json`, 'utf8')).tusport.completed_at).toBe(sidecar.tusport.completed_at);
    await stop(after, 'SIGTERM');
    expect(finishedIds(after)).toEqual([path.basename(uploadPath)]);
  });
});
