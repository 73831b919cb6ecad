import type { IncomingMessage } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp, type TusportConfig } from '../../src/index.js';

export interface RunningTusport {
  app: FastifyInstance;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** A temp dir owned by this server; store directories in the config may point into it. */
  dir: string;
  close(): Promise<void>;
}

/** A temp directory removed by the returned function. */
export async function tempDir(prefix = 'tusport-test-'): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Start a real tusport listening on an ephemeral loopback port. `config` may be a function of
 * the temp dir so store directories live inside it. Logs go nowhere unless TUSPORT_TEST_LOG is set.
 */
export async function startTusport(
  config: TusportConfig | ((dir: string) => TusportConfig),
  options: { dir?: string; logger?: pino.Logger } = {},
): Promise<RunningTusport> {
  const owned = options.dir ? undefined : await tempDir();
  const dir = options.dir ?? owned!.dir;
  const resolved = typeof config === 'function' ? config(dir) : config;
  const logger = options.logger ?? pino({ level: process.env.TUSPORT_TEST_LOG ?? 'silent' });
  const app = buildApp({ ...resolved, server: { ...resolved.server, host: '127.0.0.1', port: 0 } }, { logger });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return {
    app,
    url: `http://127.0.0.1:${address.port}`,
    dir,
    async close() {
      await app.close();
      await owned?.remove();
    },
  };
}

/** The one-endpoint config most tests use: `/files` stored under `<dir>/files`. */
export function filesEndpoint(dir: string, extra: Record<string, unknown> = {}): TusportConfig {
  return { endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, ...extra }] };
}

/** A pino logger at `level` whose JSON lines are collected in `lines` (to assert on logs). */
export function capturingLogger(level = 'info'): { logger: pino.Logger; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        raw.push(line);
        lines.push(JSON.parse(line));
      }
      callback();
    },
  });
  return { logger: pino({ level }, sink), lines, text: () => raw.join('\n') };
}

/**
 * Resolves when the server has received the headers of a request matching `match` (its method and
 * path, or an `X-Request-Id` the test chose): a gate for "the second request has arrived while the
 * first is still in progress", instead of a sleep that hopes it has.
 */
export function requestArrived(server: RunningTusport, match: (request: IncomingMessage) => boolean): Promise<void> {
  return new Promise((resolve) => {
    const onRequest = (request: IncomingMessage) => {
      if (!match(request)) return;
      server.app.server.off('request', onRequest);
      resolve();
    };
    server.app.server.on('request', onRequest);
  });
}
