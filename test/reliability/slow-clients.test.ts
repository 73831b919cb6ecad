import net from 'node:net';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256 } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw } from '../helpers/http.js';
import { capturingLogger, filesEndpoint, type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { KiB, MiB } from './lib/fixtures.js';
import { rng, seededBytes, suiteSeed } from './lib/random.js';

/**
 * Slow and stuck clients: with `server.idleTimeout: 2s`, a client that trickles its headers or
 * its body with longer pauses is disconnected by the server, the body bytes that did arrive are
 * kept (and resumable), and uploads running at the same time complete untouched.
 */

const IDLE_MS = 2000;
/** A trickle: three bytes a second apart (within the idle timeout), then silence past it. */
const PAUSES_MS = [1000, 1000, 1000, 3000, 3000];

let server: RunningTusport;
let seed: number;
const log = capturingLogger('info');
beforeAll(async () => {
  seed = suiteSeed('slow-clients');
  server = await startTusport((dir) => ({ ...filesEndpoint(dir), server: { idleTimeout: IDLE_MS } }), { logger: log.logger });
});
afterAll(async () => {
  await server?.close();
});

interface Trickle {
  /** Bytes the client handed to the socket before the connection ended. */
  sent: number;
  /** What ended the connection: always the server here (the client never closes). */
  endedBy: 'server' | 'client';
  /** What the server sent back, if anything. */
  answer: string;
}

/**
 * Send `head` at once, then one byte of `rest` after each pause, never closing: the connection
 * ends only when the server ends it.
 */
function trickle(head: Buffer, rest: Buffer, pausesMs: number[]): Promise<Trickle> {
  const url = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    let sent = 0;
    let answer = '';
    let ended = false;
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
    });
    const finish = () => {
      if (ended) return;
      ended = true;
      resolve({ sent, endedBy: 'server', answer });
    };
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', finish);
    socket.once('connect', async () => {
      socket.write(head);
      sent += head.length;
      for (const [i, pause] of pausesMs.entries()) {
        await sleep(pause);
        if (ended) return;
        socket.write(rest.subarray(i, i + 1));
        sent += 1;
      }
      await sleep(IDLE_MS * 3);
      if (!ended) {
        socket.destroy();
        reject(new Error(`the server kept a trickling connection open through pauses of ${pausesMs.join(', ')} ms and ${IDLE_MS * 3} ms of silence (idleTimeout ${IDLE_MS} ms)`));
      }
    });
  });
}

/** Uploads at full speed alongside the slow clients: they must complete, identical. */
async function normalUploads(count: number): Promise<number> {
  const random = rng(seed, 'normal');
  let bytes = 0;
  await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const data = seededBytes(seed, `normal-${index}`, random.int(256 * KiB, 4 * MiB));
      const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: random.int(64 * KiB, 1 * MiB) });
      const download = await raw(server.url, { method: 'GET', path: new URL(url).pathname });
      expect(download.status).toBe(200);
      expect(sha256(download.bytes)).toBe(sha256(data));
      bytes += data.length;
    }),
  );
  return bytes;
}

describe('slow clients', () => {
  it('a client trickling its headers and one trickling its body are disconnected by the server; the body bytes are kept and resumable; other uploads complete', { timeout: 120_000 }, async () => {
    const data = seededBytes(seed, 'slow-body', 200 * KiB);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const id = path.basename(uploadPath);

    // Headers: the request line and part of a header, then one byte per pause.
    const headerBytes = Buffer.from(`PATCH ${uploadPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n\r\n`);
    const headerSplit = 30;
    // Body: the headers and 50 KiB at once, then one byte per pause.
    const sentAtOnce = 50 * KiB;
    const bodyHead = Buffer.concat([
      Buffer.from(`PATCH ${uploadPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: ${data.length}\r\n\r\n`),
      data.subarray(0, sentAtOnce),
    ]);

    const [slowHeaders, slowBody, normalBytes] = await Promise.all([
      trickle(headerBytes.subarray(0, headerSplit), headerBytes.subarray(headerSplit), PAUSES_MS),
      trickle(bodyHead, data.subarray(sentAtOnce), PAUSES_MS),
      normalUploads(3),
    ]);

    // Headers never completed: cut without an answer to a request it never finished.
    expect(slowHeaders.endedBy).toBe('server');
    expect(slowHeaders.sent).toBeLessThan(headerBytes.length);
    expect(slowHeaders.answer).not.toMatch(/^HTTP\/1\.1 [25]/);

    // Body: cut by the server mid-body; what arrived is kept, in place.
    expect(slowBody.endedBy).toBe('server');
    const bodySent = slowBody.sent - (bodyHead.length - sentAtOnce);
    expect(bodySent).toBeLessThan(data.length);
    // Every trickled byte within the idle timeout arrived; the silence after them ended it.
    expect(slowHeaders.sent).toBe(headerSplit + 3);
    expect(bodySent).toBe(sentAtOnce + 3);
    // The server's side (the client saw its socket close; the PATCH may still be syncing).
    const cut = () => log.lines.find((line) => line.msg === 'PATCH interrupted; received bytes kept' && line.uploadId === id);
    for (let waited = 0; !cut() && waited < 20_000; waited += 50) await sleep(50);
    const interrupted = cut();
    expect(interrupted, 'the server logged the cut PATCH').toBeDefined();
    expect(interrupted?.offset).toBe(bodySent);
    expect(await headOffset(server.url, uploadPath)).toBe(bodySent);
    expect((await readFile(path.join(server.dir, 'files', id))).equals(data.subarray(0, bodySent))).toBe(true);

    // And the upload resumes from there to an identical file.
    expect((await patch(server.url, uploadPath, bodySent, data.subarray(bodySent))).status).toBe(204);
    const download = await raw(server.url, { method: 'GET', path: uploadPath });
    expect(sha256(download.bytes)).toBe(sha256(data));
    expect(log.lines.filter((line) => Number(line.level) >= 50)).toEqual([]);
    console.log(
      `[slow-clients] idleTimeout=${IDLE_MS}ms headerTrickle: sent ${slowHeaders.sent}/${headerBytes.length} bytes before the server closed; ` +
        `bodyTrickle: ${bodySent}/${data.length} body bytes kept and resumed; normalUploads=3 bytesVerified=${normalBytes + data.length}`,
    );
  });
});
