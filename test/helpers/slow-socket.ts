import net from 'node:net';
import { afterEach } from 'vitest';
import { type RunningTusport, startTusport } from './server.js';
import { readdirSync, readlinkSync } from 'node:fs';

export interface HeldSocket {
  socket: net.Socket;
  /** Everything the server has sent so far (latin1). */
  answer(): string;
  /** Bytes written to the socket so far. */
  sent(): number;
  /** Write bytes unless the connection is gone; resolves once they are with the kernel. */
  write(bytes: Buffer | string): Promise<void>;
  /** Resolves when the connection has ended, however (`closedAt` is then set). */
  closed: Promise<void>;
  isClosed(): boolean;
  /** Milliseconds from connect to close (undefined while open). */
  closedAfter(): number | undefined;
}

/**
 * A raw TCP connection to a test server that the test drives byte by byte, optionally from
 * another loopback address (`from: '127.0.0.2'`: Linux routes all of 127/8 to lo, so per-address
 * limits can be exercised without leaving the machine).
 */
export function holdSocket(baseUrl: string, from?: string): Promise<HeldSocket> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = net.connect({ host: url.hostname, port: Number(url.port), ...(from ? { localAddress: from } : {}) });
    let answer = '';
    let sent = 0;
    let closedAt: number | undefined;
    const closed = new Promise<void>((done) => socket.once('close', () => {
      closedAt = Date.now();
      done();
    }));
    socket.on('data', (chunk: Buffer) => {
      if (answer.length < 16_384) answer += chunk.toString('latin1');
    });
    socket.once('error', (error) => {
      if (closedAt === undefined && sent === 0 && !socket.remoteAddress) reject(error);
    });
    socket.once('connect', () =>
      resolve({
        socket,
        answer: () => answer,
        sent: () => sent,
        write: (bytes) =>
          new Promise((done) => {
            if (socket.destroyed || socket.writableEnded) return done();
            sent += Buffer.byteLength(bytes);
            socket.write(bytes, () => done());
          }),
        closed,
        isClosed: () => closedAt !== undefined,
        closedAfter: () => (closedAt === undefined ? undefined : closedAt - started),
      }),
    );
  });
}

/** The status of the first response line a held socket received, if any. */
export function statusOf(held: HeldSocket): number | undefined {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(held.answer());
  return match ? Number(match[1]) : undefined;
}

/** Open file descriptors of a process (`self` or a pid) whose target is under `dir`. */
export function descriptorsUnder(dir: string, pid: number | 'self' = 'self'): number {
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir)) count++;
    } catch {
      // Closed while we looked.
    }
  }
  return count;
}

/** All open file descriptors of a process. */
export function descriptorCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Held sockets a test file destroys after each test (so none outlives its test). */
export class HeldSockets {
  private readonly all: HeldSocket[] = [];

  async open(baseUrl: string, from?: string): Promise<HeldSocket> {
    const socket = await holdSocket(baseUrl, from);
    this.all.push(socket);
    return socket;
  }

  destroyAll(): void {
    for (const socket of this.all.splice(0)) socket.socket.destroy();
  }
}

/**
 * A test file's per-test state: the server a test starts (`start`) and the sockets it holds,
 * all closed after each test.
 */
export function perTestServer(): { held: HeldSockets; start: typeof startTusport } {
  const held = new HeldSockets();
  let server: RunningTusport | undefined;
  afterEach(async () => {
    held.destroyAll();
    await server?.close();
    server = undefined;
  });
  return {
    held,
    start: async (...args) => {
      server = await startTusport(...args);
      return server;
    },
  };
}
