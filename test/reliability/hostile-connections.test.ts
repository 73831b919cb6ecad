import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, type Running, underOpenFileLimit } from '../helpers/cli.js';
import { sha256 } from '../helpers/files.js';
import { createUpload, raw } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';
import { descriptorCount, descriptorsUnder, type HeldSocket, HeldSockets, statusOf } from '../helpers/slow-socket.js';
import { tusUpload } from '../helpers/tus-client.js';
import { isAlive, MiB, writeServeConfig } from './lib/fixtures.js';
import { seededBytes, suiteSeed } from './lib/random.js';

/**
 * 1,000 hostile slow connections against `tusport serve` running under `ulimit -n 1024` (issue 11,
 * finding 3; before the limits, 600 trickling connections made /healthz and new uploads fail with
 * EMFILE). Half trickle their headers a byte a second, half trickle bodies into real uploads a
 * byte a second; they come from four loopback addresses (127.0.0.2-5), 250 each. Meanwhile
 * /healthz and a normal tus-js-client upload from 127.0.0.1 must work, sha256-identical.
 *
 * Run `npm run build` first (the CLI loads dist/). Figures are printed, not asserted: how many
 * hostile connections were refused (503), cut by the headers timeout (408), cut by the minimum
 * body rate (closed, bytes kept), the server's descriptor count, and the normal upload's time
 * under attack against without.
 */

const HOSTILE = 1000;
const ATTACKERS = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const OPEN_FILES = 1024;
/** How long each hostile connection keeps trickling unless the server ends it first. */
const ATTACK_MS = 25_000;
const NORMAL_SIZE = 8 * MiB;

const workdir = await tempDir('tusport-hostile-');
const sockets = new HeldSockets();
afterAll(async () => {
  sockets.destroyAll();
  await killAll();
  await workdir.remove();
});

interface Hostile {
  kind: 'headers' | 'body';
  socket: HeldSocket | undefined;
  /** Connect failed outright (refused by the kernel, reset): counted as refused. */
  failed: boolean;
}

/** Open one hostile connection and trickle a byte a second until the server ends it or the attack is over. */
async function attack(url: string, from: string, kind: Hostile['kind'], uploadPath: string, until: number): Promise<Hostile> {
  let socket: HeldSocket;
  try {
    socket = await sockets.open(url, from);
  } catch {
    return { kind, socket: undefined, failed: true };
  }
  const request =
    kind === 'headers'
      ? `PATCH ${uploadPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nX-Slow: ${'x'.repeat(200)}\r\n\r\n`
      : `PATCH ${uploadPath} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100000\r\n\r\n`;
  const head = kind === 'headers' ? request.slice(0, 20) : request;
  await socket.write(head);
  void (async () => {
    for (let at = head.length; !socket.isClosed() && Date.now() < until; at++) {
      await sleep(1000);
      await socket.write(kind === 'headers' ? request.slice(at, at + 1) : 'x');
    }
  })();
  return { kind, socket, failed: false };
}

async function normalUpload(url: string, data: Buffer): Promise<number> {
  const started = performance.now();
  const { url: uploadUrl } = await tusUpload(data, { endpoint: `${url}/files`, chunkSize: 1 * MiB, retryDelays: [] });
  const elapsed = performance.now() - started;
  const download = await raw(url, { method: 'GET', path: new URL(uploadUrl).pathname });
  expect(download.status).toBe(200);
  expect(sha256(download.bytes)).toBe(sha256(data));
  return elapsed;
}

describe('hostile slow connections', () => {
  it(`${HOSTILE} slow connections (headers and bodies) leave /healthz and normal uploads working under ulimit -n ${OPEN_FILES}`, { timeout: 180_000 }, async () => {
    const seed = suiteSeed('hostile-connections');
    const config = await writeServeConfig(workdir.dir, {
      headersTimeout: '5s',
      minBodyRate: { bytes: '4KiB', window: '5s' },
      maxConnectionsPerClient: 100,
    });
    const server: Running = await config.start(underOpenFileLimit(OPEN_FILES));
    const pid = server.child.pid ?? 0;
    const data = seededBytes(seed, 'normal', NORMAL_SIZE);
    const baselineMs = await normalUpload(config.url, data);

    // Real uploads for the slow bodies to trickle into (one each: no lock contention among them).
    const targets: string[] = [];
    for (let i = 0; i < HOSTILE / 2; i += 25) {
      targets.push(...(await Promise.all(Array.from({ length: 25 }, () => createUpload(config.url, '/files', { 'Upload-Length': 100_000 })))));
    }

    const until = Date.now() + ATTACK_MS;
    const hostile: Hostile[] = [];
    for (let i = 0; i < HOSTILE; i += 50) {
      hostile.push(
        ...(await Promise.all(
          Array.from({ length: 50 }, (_, j) => {
            const n = i + j;
            const kind = n % 2 === 0 ? 'headers' : 'body';
            return attack(config.url, ATTACKERS[n % ATTACKERS.length]!, kind, kind === 'body' ? targets[(n - 1) / 2]! : '/files/none', until);
          }),
        )),
      );
    }

    // Under attack: descriptors sampled, /healthz polled, a normal upload.
    let peakFds = 0;
    let peakStoreFds = 0;
    const sampler = setInterval(() => {
      try {
        peakFds = Math.max(peakFds, descriptorCount(pid));
        peakStoreFds = Math.max(peakStoreFds, descriptorsUnder(config.store, pid));
      } catch {
        // The process is gone: the assertions below say so.
      }
    }, 200);
    const health: number[] = [];
    const healthPoller = (async () => {
      while (Date.now() < until - 5000) {
        health.push((await raw(config.url, { method: 'GET', path: '/healthz' })).status);
        await sleep(500);
      }
    })();
    const underAttackMs = await normalUpload(config.url, data);
    await healthPoller;

    // Every accepted hostile connection must have been ended by the server before the attack ends.
    while (Date.now() < until && hostile.some((h) => h.socket && !h.socket.isClosed())) await sleep(250);
    clearInterval(sampler);
    const stillOpen = hostile.filter((h) => h.socket && !h.socket.isClosed()).length;
    const answered = (status: number | undefined) => hostile.filter((h) => h.socket && statusOf(h.socket) === status).length;
    const refused = answered(503);
    const headersCut = answered(408);
    const failedToConnect = hostile.filter((h) => h.failed).length;
    // Closed without an answer: cut by the minimum body rate (the server logs each), or refused
    // without one (past the lingering cap, under a burst, a refused connection is just closed).
    const closedSilently = answered(undefined);
    const serverLog = server.output.stdout;
    const bodiesCut = serverLog.split('request body too slow').length - 1;
    const otherAnswers = hostile.filter((h) => h.socket && ![undefined, 408, 503].includes(statusOf(h.socket))).map((h) => statusOf(h.socket!));
    let kept = 0;
    for (let i = 0; i < targets.length; i += 25) {
      const heads = await Promise.all(targets.slice(i, i + 25).map((target) => raw(config.url, { method: 'HEAD', path: target, headers: { 'Tus-Resumable': '1.0.0' } })));
      for (const head of heads) kept += Number(head.headers['upload-offset'] ?? 0);
    }

    expect(isAlive(server)).toBe(true);
    expect(server.output.stdout + server.output.stderr).not.toMatch(/EMFILE/);
    expect(health.length).toBeGreaterThan(0);
    expect(health.every((status) => status === 200)).toBe(true);
    expect(stillOpen).toBe(0);
    expect(otherAnswers).toEqual([]);
    expect(refused).toBeGreaterThan(0);
    // After the attack the server is as it was: a new upload, /healthz.
    expect((await raw(config.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    const afterMs = await normalUpload(config.url, data);
    console.log(
      `[hostile-connections] ${HOSTILE} hostile connections (${HOSTILE / 2} slow headers, ${HOSTILE / 2} slow bodies) from ${ATTACKERS.length} addresses, server under ulimit -n ${OPEN_FILES}: ` +
        `${refused} refused with 503 + Retry-After, ${closedSilently - bodiesCut + failedToConnect} refused without an answer, ${headersCut} slow headers cut with 408, ` +
        `${bodiesCut} slow bodies cut by the minimum rate (${kept} trickled bytes kept), ${stillOpen} left open; ` +
        `server peak ${peakFds} descriptors (${peakStoreFds} on store files); /healthz ${health.filter((status) => status === 200).length}/${health.length} ok; ` +
        `normal ${NORMAL_SIZE / MiB} MiB tus-js-client upload: ${Math.round(baselineMs)} ms before, ${Math.round(underAttackMs)} ms under attack, ${Math.round(afterMs)} ms after; sha256 equal each time`,
    );
  });
});
