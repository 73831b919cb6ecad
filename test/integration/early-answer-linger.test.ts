import net from 'node:net';
import path from 'node:path';
import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/cli.js';
import { createUpload, headOffset } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport } from '../helpers/server.js';
import { perTestServer } from '../helpers/slow-socket.js';
import { LINGER_BYTES } from '../../src/limits/linger.js';

/**
 * A request refused from its headers while its body is still on the way (413 for a chunk over
 * maxChunkSize, a body past Upload-Length) is answered with `Connection: close`. The client must
 * read that answer, then the end of the stream (a FIN), never a reset: the server keeps reading
 * and discarding the body for a bounded time ("lingering close") instead of closing a socket
 * that bytes still arrive on. Without it, the kernel answers those bytes with a reset and the
 * client sees ECONNRESET/EPIPE instead of the 413 (tus-js-client then retries).
 */

const { start } = perTestServer();
const MiB = 1024 * 1024;
const DECLARED = 64 * MiB;
// Below LINGER_BYTES: every write of it is read by the server, none waits on a full window.
const SENT_AFTER_ANSWER = 1 * MiB;
const BLOCK = Buffer.alloc(64 * 1024, 7);

// Only the lingering close may close these connections: the other limits are far away.
const patient = { server: { idleTimeout: '10min', minBodyRate: { bytes: 0 } } };

interface Client {
  socket: net.Socket;
  /** The server's side of the same connection. */
  server: net.Socket;
  answer(): string;
  ended(): boolean;
  errors: Error[];
  closed: Promise<void>;
}

/** A raw connection, its own reading paused until `socket.resume()`, and the server's socket for it. */
async function connect(s: RunningTusport): Promise<Client> {
  const url = new URL(s.url);
  const accepted = new Promise<net.Socket>((resolve) => {
    const onConnection = (socket: net.Socket) => {
      if (socket.remotePort !== client.localPort) return;
      s.app.server.off('connection', onConnection);
      resolve(socket);
    };
    s.app.server.on('connection', onConnection);
  });
  // Half-open allowed: the server's FIN does not end the client's side; each test decides when it ends.
  const client = net.connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
  client.pause();
  const errors: Error[] = [];
  let answer = '';
  let ended = false;
  client.on('error', (error) => errors.push(error));
  client.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  client.on('end', () => (ended = true));
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  return { socket: client, server: await accepted, answer: () => answer, ended: () => ended, errors, closed };
}

function patchHead(uploadPath: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ Host: '127.0.0.1', 'Tus-Resumable': '1.0.0', 'Upload-Offset': 0, 'Content-Type': 'application/offset+octet-stream', 'Content-Length': DECLARED, ...headers });
  return `PATCH ${uploadPath} HTTP/1.1\r\n${lines.map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n`;
}

function write(socket: net.Socket, bytes: Buffer | string): Promise<Error | undefined> {
  return new Promise((resolve) => socket.write(bytes, (error) => resolve(error ?? undefined)));
}

/** Headers and a first block, then wait until the server has written its answer (and, before lingering existed, closed). */
async function refusedWhileSending(client: Client, head: string): Promise<void> {
  await write(client.socket, head);
  await write(client.socket, BLOCK);
  await until(() => client.server.writableFinished || client.server.destroyed, 'the server to have written its answer');
}

/** A PATCH over maxChunkSize, answered; the client reads as it goes and never ends its side by itself. */
async function refusedOverChunkSize() {
  const s = await start((dir) => ({ ...filesEndpoint(dir, { maxChunkSize: '64KiB' }), ...patient }));
  const uploadPath = await createUpload(s.url, '/files', { 'Upload-Length': DECLARED });
  const client = await connect(s);
  client.socket.resume();
  await refusedWhileSending(client, patchHead(uploadPath, {}));
  return { s, uploadPath, client, readBefore: client.server.bytesRead, answeredAt: Date.now() };
}

function statusAndBody(answer: string): { status: number; body: Record<string, unknown> } {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]), body: body ? (JSON.parse(body) as Record<string, unknown>) : {} };
}

const cases = [
  {
    name: 'a PATCH over maxChunkSize (preconditions)',
    config: { maxChunkSize: '64KiB' },
    uploadLength: DECLARED,
    status: 413,
    code: 'TUSPORT_ERR_CHUNK_TOO_LARGE',
  },
  {
    name: 'a PATCH past Upload-Length (the PATCH handler)',
    config: {},
    uploadLength: 1000,
    status: 413,
    code: 'TUSPORT_ERR_PAST_UPLOAD_LENGTH',
  },
];

describe('an early answer while the body still arrives: lingering close', () => {
  it.each(cases)('$name: the client reads the whole answer, then a FIN, never a reset; nothing is written', async ({ config, uploadLength, status, code }) => {
    const s = await start((dir) => ({ ...filesEndpoint(dir, config), ...patient }));
    const uploadPath = await createUpload(s.url, '/files', { 'Upload-Length': uploadLength });
    const client = await connect(s);
    await refusedWhileSending(client, patchHead(uploadPath, {}));

    // The client goes on sending its body before it reads anything (as a client busy writing does).
    for (let sent = 0; sent < SENT_AFTER_ANSWER; sent += BLOCK.length) {
      const error = await write(client.socket, BLOCK);
      if (error) break;
    }
    client.socket.resume();
    await until(() => client.ended() || client.socket.destroyed, 'the answer and the end of the stream');
    expect(client.errors.map((error) => (error as NodeJS.ErrnoException).code)).toEqual([]);
    expect(client.ended(), 'the server ended with a FIN').toBe(true);
    const answer = statusAndBody(client.answer());
    expect(answer.status).toBe(status);
    expect(answer.body).toMatchObject({ statusCode: status, code });
    expect(client.answer()).toMatch(/\r\nconnection: close\r\n/i);

    // The client is done: the server closes its side at once, cleanly.
    client.socket.end();
    await client.closed;
    await until(() => client.server.destroyed, 'the server to close its socket');
    expect(client.errors).toEqual([]);
    // It read (and threw away) every byte the client sent before closing: nothing was left unread
    // to be answered with a reset, and it closed on the client's FIN, not on its linger timer.
    expect(client.server.bytesRead).toBe(client.socket.bytesWritten);
    // Nothing of the refused body was written; the upload is untouched and resumable from 0.
    expect(await headOffset(s.url, uploadPath)).toBe(0);
    const id = path.basename(uploadPath);
    expect((await readdir(path.join(s.dir, 'files'))).sort()).toEqual([id, `${id}.json`]);
  });

  it('a client that never stops sending is cut after LINGER_BYTES, and closed within the linger time', { timeout: 30_000 }, async () => {
    const { s, uploadPath, client, readBefore, answeredAt } = await refusedOverChunkSize();
    // Write as fast as the connection takes it, never ending: only the server's bounds stop this.
    let flooding = true;
    const flood = (async () => {
      while (flooding && !client.socket.destroyed && (await write(client.socket, BLOCK)) === undefined);
    })();
    await until(() => client.server.destroyed, 'the server to close the lingering connection', 20_000);
    flooding = false;
    await flood;
    const discarded = client.server.bytesRead - readBefore;
    console.log(
      `[linger] flooding client: server closed ${Date.now() - answeredAt} ms after answering, ${(discarded / MiB).toFixed(2)} MiB read and discarded (bound ${LINGER_BYTES / MiB} MiB)`,
    );
    // Reading went on after the answer, and stopped at the byte bound (plus at most a read in flight).
    expect(discarded).toBeGreaterThanOrEqual(LINGER_BYTES);
    expect(discarded).toBeLessThanOrEqual(LINGER_BYTES + 256 * 1024);
    expect(statusAndBody(client.answer())).toMatchObject({ status: 413, body: { code: 'TUSPORT_ERR_CHUNK_TOO_LARGE' } });
    expect(client.ended(), 'the answer was followed by a FIN').toBe(true);
    expect(await headOffset(s.url, uploadPath)).toBe(0);
  });

  it('a client that trickles its body forever is closed within the linger time, though no other limit would close it', { timeout: 30_000 }, async () => {
    const { client, readBefore, answeredAt } = await refusedOverChunkSize();
    const trickle = setInterval(() => {
      if (!client.socket.destroyed && client.socket.writable) client.socket.write('x');
    }, 100);
    try {
      await until(() => client.server.destroyed, 'the server to close the lingering connection', 20_000);
    } finally {
      clearInterval(trickle);
    }
    console.log(`[linger] trickling client: server closed ${Date.now() - answeredAt} ms after answering`);
    // It lingered (went on reading the trickle) before its bound closed the connection.
    expect(client.server.bytesRead).toBeGreaterThan(readBefore);
    expect(statusAndBody(client.answer())).toMatchObject({ status: 413, body: { code: 'TUSPORT_ERR_CHUNK_TOO_LARGE' } });
    expect(client.ended(), 'the answer was followed by a FIN').toBe(true);
  });
});
