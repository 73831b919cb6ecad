import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw } from '../helpers/http.js';
import { capturingLogger, filesEndpoint, type RunningTusport, tempDir } from '../helpers/server.js';
import tusport from '../../src/index.js';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { AddressInfo } from 'node:net';
import { descriptorsUnder, type HeldSocket, perTestServer, statusOf } from '../helpers/slow-socket.js';
import { until } from '../helpers/cli.js';

/**
 * Slow bodies (issue 11, finding 3): `server.minBodyRate` closes a body trickled below the rate
 * (the idle timeout never fires: bytes keep coming), keeps what arrived and frees the upload's
 * lock; a client above the rate is never cut; and a stalled body holds no file descriptor.
 */

const { held, start } = perTestServer();

function patchHead(uploadPath: string, offset: number, length: number): string {
  return `PATCH ${uploadPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: ${offset}\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
}

async function openPatch(s: RunningTusport, uploadPath: string, offset: number, length: number): Promise<HeldSocket> {
  const socket = await held.open(s.url);
  await socket.write(patchHead(uploadPath, offset, length));
  return socket;
}

describe('server.minBodyRate', () => {
  it('a body trickled below the rate is cut: connection closed, bytes kept, lock released, the reason logged; the upload resumes to an identical file', { timeout: 60_000 }, async () => {
    const log = capturingLogger('info');
    const s = await start((dir) => ({ ...filesEndpoint(dir), server: { minBodyRate: { bytes: 1024, window: '2s' } } }), { logger: log.logger });
    const data = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i % 251));
    const uploadPath = await createUpload(s.url, '/files', { 'Upload-Length': data.length });
    const id = path.basename(uploadPath);
    const socket = await openPatch(s, uploadPath, 0, data.length);
    const sent = await trickleUntilClosed(socket, data);
    expect(socket.isClosed(), 'the server closed the trickling connection').toBe(true);
    expect(statusOf(socket)).toBeUndefined();

    const tooSlow = log.lines.find((line) => String(line.msg).startsWith('request body too slow'));
    expect(tooSlow).toMatchObject({ level: 40, windowMs: 2000, minimumBytes: 1024 });
    const cut = () => log.lines.find((line) => line.msg === 'PATCH interrupted; received bytes kept' && line.uploadId === id);
    await until(() => cut() !== undefined, 'the cut PATCH to be logged');
    const kept = Number(cut()?.offset);
    expect(kept).toBeGreaterThanOrEqual(100);
    expect(kept).toBeLessThanOrEqual(sent);
    // The lock is free and the bytes are in place: HEAD and a resuming PATCH answer at once.
    expect(await headOffset(s.url, uploadPath)).toBe(kept);
    expect((await readFile(path.join(s.dir, 'files', id))).equals(data.subarray(0, kept))).toBe(true);
    expect((await patch(s.url, uploadPath, kept, data.subarray(kept))).status).toBe(204);
    expect(sha256((await raw(s.url, { method: 'GET', path: uploadPath })).bytes)).toBe(sha256(data));
    console.log(`[body-rate] trickle of 1 byte/250 ms cut after ${socket.closedAfter()} ms with ${kept} of ${sent} body bytes kept (window 2 s, minimum 1024 bytes)`);
  });

  it('holds when tusport is embedded as a plugin: the host owns the server, tusport still cuts its own slow bodies', { timeout: 60_000 }, async () => {
    const dir = await tempDir();
    const log = capturingLogger('info');
    const host = Fastify({ loggerInstance: log.logger as FastifyBaseLogger });
    try {
      await host.register(tusport, { prefix: '/up', server: { minBodyRate: { bytes: 1024, window: '2s' } }, ...filesEndpoint(dir.dir) });
      await host.listen({ host: '127.0.0.1', port: 0 });
      const url = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`;
      const data = Buffer.alloc(10_000, 5);
      const uploadPath = await createUpload(url, '/up/files', { 'Upload-Length': data.length });
      const socket = await held.open(url);
      await socket.write(patchHead(uploadPath, 0, data.length));
      await trickleUntilClosed(socket, data);
      expect(socket.isClosed(), 'the embedded tusport closed the trickling connection').toBe(true);
      expect(log.lines.some((line) => String(line.msg).startsWith('request body too slow'))).toBe(true);
      expect(await headOffset(url, uploadPath)).toBeGreaterThanOrEqual(100);
    } finally {
      await host.close();
      await dir.remove();
    }
  });

  it('a slow body above the rate is never cut, however long it takes', { timeout: 60_000 }, async () => {
    const s = await start((dir) => ({ ...filesEndpoint(dir), server: { minBodyRate: { bytes: 1024, window: '2s' } } }));
    const data = Buffer.from(Array.from({ length: 24 * 1024 }, (_, i) => (i * 7) % 256));
    const uploadPath = await createUpload(s.url, '/files', { 'Upload-Length': data.length });
    const socket = await openPatch(s, uploadPath, 0, data.length);
    // 2 KiB every 500 ms: four times the minimum, for about 6 s (three windows).
    for (let at = 0; at < data.length; at += 2048) {
      await socket.write(data.subarray(at, at + 2048));
      await sleep(500);
      expect(socket.isClosed()).toBe(false);
    }
    await until(() => statusOf(socket) !== undefined, 'the PATCH answer');
    expect(statusOf(socket)).toBe(204);
    expect(sha256((await raw(s.url, { method: 'GET', path: uploadPath })).bytes)).toBe(sha256(data));
  });

  it('time the server spends behind never counts against the client: a body left unread while a pre-create hook takes 3 windows is not cut', { timeout: 60_000 }, async () => {
    let hookCalls = 0;
    const s = await start((dir) => ({
      server: { minBodyRate: { bytes: 1024, window: '1s' } },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk' as const, directory: path.join(dir, 'files') },
          hooks: [
            {
              type: 'function' as const,
              timeout: '20s',
              handlers: {
                'pre-create': async () => {
                  hookCalls++;
                  await sleep(3000);
                },
              },
            },
          ],
        },
      ],
    }));
    const data = Buffer.from(Array.from({ length: 4 * 1024 * 1024 }, (_, i) => (i * 31) % 256));
    const created = await raw(s.url, {
      method: 'POST',
      path: '/files',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': String(data.length), 'Content-Type': 'application/offset+octet-stream' },
      body: data,
    });
    expect(hookCalls).toBe(1);
    expect(created.status).toBe(201);
    expect(created.headers['upload-offset']).toBe(String(data.length));
    expect(sha256((await raw(s.url, { method: 'GET', path: new URL(String(created.headers.location)).pathname })).bytes)).toBe(sha256(data));
  });

  it('a stalled body holds no file descriptor: the data file is open only while bytes flow', { timeout: 60_000 }, async () => {
    const s = await start((dir) => filesEndpoint(dir));
    const store = path.join(s.dir, 'files');
    const count = 20;
    const data = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 13) % 256));
    const uploads = await Promise.all(Array.from({ length: count }, () => createUpload(s.url, '/files', { 'Upload-Length': data.length })));
    const sockets = await Promise.all(uploads.map((uploadPath) => openPatch(s, uploadPath, 0, data.length)));
    await Promise.all(sockets.map((socket) => socket.write(data.subarray(0, 16 * 1024))));
    await until(async () => (await Promise.all(uploads.map((u) => firstBytesStored(s, u)))).every(Boolean), 'the first bytes to be stored', 20_000);
    // Now nothing flows: within the idle-close delay every data file is closed, the sockets stay.
    await until(() => descriptorsUnder(store) === 0, 'no descriptor under the store while 20 PATCH bodies stall', 10_000);
    expect(sockets.every((socket) => !socket.isClosed())).toBe(true);
    const stalled = descriptorsUnder(store);
    // The rest arrives: each upload completes, identical.
    await Promise.all(sockets.map((socket) => socket.write(data.subarray(16 * 1024))));
    await until(() => sockets.every((socket) => statusOf(socket) !== undefined), 'every PATCH answer', 20_000);
    expect(sockets.map(statusOf)).toEqual(sockets.map(() => 204));
    for (const uploadPath of uploads) expect(sha256((await raw(s.url, { method: 'GET', path: uploadPath })).bytes)).toBe(sha256(data));
    console.log(`[body-rate] ${count} PATCH bodies stalled mid-way: ${stalled} descriptors under the store (fs.createWriteStream held one each until its body ended)`);
  });
});

/**
 * Send 100 bytes of `data`, then one byte every 250 ms (far inside the idle timeout, far below
 * 1 KiB per 2 s) until the server closes the connection or 20 s have passed; returns the body
 * bytes sent.
 */
async function trickleUntilClosed(socket: HeldSocket, data: Buffer): Promise<number> {
  await socket.write(data.subarray(0, 100));
  let sent = 100;
  const deadline = Date.now() + 20_000;
  while (!socket.isClosed() && Date.now() < deadline) {
    await sleep(250);
    if (socket.isClosed()) break;
    await socket.write(data.subarray(sent, sent + 1));
    sent++;
  }
  return sent;
}

/** Whether the server's data file already has the first bytes (the PATCH holds the lock: read the file, not HEAD). */
async function firstBytesStored(s: RunningTusport, uploadPath: string): Promise<boolean> {
  const size = (await readFile(path.join(s.dir, 'files', path.basename(uploadPath)))).length;
  return size >= 16 * 1024;
}
