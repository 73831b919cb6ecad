import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { until } from '../helpers/cli.js';
import { listTree } from '../helpers/files.js';
import { filesEndpoint, type RunningTusport } from '../helpers/server.js';
import { type HeldSocket, perTestServer, statusOf } from '../helpers/slow-socket.js';

/**
 * Connection-level limits (issue 11, finding 3): headers must arrive within
 * `server.headersTimeout`; open connections are capped in total and per client address, a
 * connection over a cap is answered 503 with Retry-After at once, and /healthz stays reachable
 * past the total cap. Other loopback addresses (127.0.0.x) stand for other clients.
 */

const { held, start } = perTestServer();

async function hold(s: RunningTusport, from: string, bytes = 'PATCH /files/x HTTP/1.1\r\nHo'): Promise<HeldSocket> {
  const socket = await held.open(s.url, from);
  await socket.write(bytes);
  return socket;
}

/** One whole request on a fresh connection from `from`; resolves with the answer once the server closes. */
async function ask(s: RunningTusport, from: string, method: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number | undefined; head: string; body: string }> {
  const socket = await hold(s, from, [`${method} ${url} HTTP/1.1`, 'Host: 127.0.0.1', 'Tus-Resumable: 1.0.0', 'Connection: close', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'));
  await Promise.race([socket.closed, sleep(10_000)]);
  expect(socket.isClosed(), `${method} ${url} from ${from} was answered and closed`).toBe(true);
  const [head = '', body = ''] = socket.answer().split('\r\n\r\n');
  return { status: statusOf(socket), head, body };
}

const headerOf = (head: string, name: string) => new RegExp(`\r\n${name}: ([^\r]*)`, 'i').exec(head)?.[1];

describe('server.headersTimeout', () => {
  it('headers trickled a byte at a time are answered 408 and closed after headersTimeout; a connection that sends nothing is closed too', { timeout: 60_000 }, async () => {
    const s = await start((dir) => ({ ...filesEndpoint(dir), server: { headersTimeout: '1s' } }));
    const headers = Buffer.from('PATCH /files/abc HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\nX-Padding: ' + 'x'.repeat(200) + '\r\n\r\n');
    const trickling = await hold(s, '127.0.0.1', headers.subarray(0, 10).toString('latin1'));
    const silent = await held.open(s.url);
    // One byte every 200 ms: the idle timeout (60 s) never fires; only the headers timeout can.
    for (let at = 10; at < headers.length && !trickling.isClosed(); at++) {
      await sleep(200);
      await trickling.write(headers.subarray(at, at + 1));
    }
    expect(trickling.isClosed(), 'the server closed the connection before the headers were complete').toBe(true);
    expect(trickling.sent()).toBeLessThan(headers.length);
    expect(statusOf(trickling)).toBe(408);
    expect(JSON.parse(trickling.answer().split('\r\n\r\n')[1] ?? '{}')).toMatchObject({ statusCode: 408, code: 'TUSPORT_ERR_HEADERS_TIMEOUT' });
    await Promise.race([silent.closed, sleep(10_000)]);
    expect(silent.isClosed(), 'a connection that never sent a byte was closed').toBe(true);
    console.log(`[connection-limits] headersTimeout 1 s: trickled headers cut after ${trickling.closedAfter()} ms (${trickling.sent()}/${headers.length} bytes), a silent connection after ${silent.closedAfter()} ms`);
  });
});

describe('requests the HTTP parser refuses', () => {
  it.each([
    ['malformed', 'NOT HTTP AT ALL\r\n\r\n', 400, 'TUSPORT_ERR_MALFORMED_REQUEST'],
    ['headers over the size limit', `HEAD /files/x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'x'.repeat(20_000)}\r\n\r\n`, 431, 'TUSPORT_ERR_HEADERS_TOO_LARGE'],
  ])('%s: answered in tusport\'s error format, the connection closed, nothing stored', async (_name, request, status, code) => {
    const s = await start((dir) => filesEndpoint(dir));
    const socket = await hold(s, '127.0.0.1', request);
    await Promise.race([socket.closed, sleep(10_000)]);
    expect(socket.isClosed()).toBe(true);
    expect(statusOf(socket)).toBe(status);
    expect(JSON.parse(socket.answer().split('\r\n\r\n')[1] ?? '{}')).toMatchObject({ statusCode: status, code });
    expect(await listTree(path.join(s.dir, 'files'))).toEqual([]);
    const health = await fetch(`${s.url}/healthz`);
    expect(health.status).toBe(200);
  });
});

describe('server.maxConnections and server.maxConnectionsPerClient', () => {
  it('past the per-client cap a new connection gets 503 + Retry-After at once; past the total cap only /healthz is served; both free up when connections close', { timeout: 60_000 }, async () => {
    const s = await start((dir) => ({ ...filesEndpoint(dir), server: { maxConnections: 4, maxConnectionsPerClient: 3, headersTimeout: '30s' } }));
    const store = path.join(s.dir, 'files');
    for (let i = 0; i < 3; i++) await hold(s, '127.0.0.2');

    const perClient = await ask(s, '127.0.0.2', 'POST', '/files', { 'Upload-Length': '5' });
    expect(perClient.status).toBe(503);
    expect(headerOf(perClient.head, 'Retry-After')).toBe('5');
    expect(JSON.parse(perClient.body)).toMatchObject({ code: 'TUSPORT_ERR_TOO_MANY_CONNECTIONS', message: expect.stringContaining('Too many connections') });

    // Another address is still served; with its connection held the total cap (4) is reached.
    expect((await ask(s, '127.0.0.3', 'POST', '/files', { 'Upload-Length': '5' })).status).toBe(201);
    await hold(s, '127.0.0.3');
    const full = await ask(s, '127.0.0.4', 'POST', '/files', { 'Upload-Length': '5' });
    expect(full.status).toBe(503);
    expect(headerOf(full.head, 'Retry-After')).toBe('5');
    expect(JSON.parse(full.body)).toMatchObject({ code: 'TUSPORT_ERR_TOO_MANY_CONNECTIONS' });
    const health = await ask(s, '127.0.0.4', 'GET', '/healthz');
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body)).toMatchObject({ status: 'ok' });
    // Nothing was created by the refused requests: one upload (127.0.0.3's) in the store.
    expect((await listTree(store)).filter((name) => !name.endsWith('.json'))).toHaveLength(1);

    held.destroyAll();
    await until(async () => (await ask(s, '127.0.0.2', 'POST', '/files', { 'Upload-Length': '5' })).status === 201, 'connections to be counted as closed');
    expect((await ask(s, '127.0.0.4', 'POST', '/files', { 'Upload-Length': '5' })).status).toBe(201);
  });

  it('connections from a trusted proxy are exempt from the per-client cap (they carry many clients), not from the total', { timeout: 60_000 }, async () => {
    const s = await start((dir) => ({ ...filesEndpoint(dir), server: { maxConnections: 6, maxConnectionsPerClient: 2, trustProxy: ['127.0.0.5'] } }));
    for (let i = 0; i < 4; i++) await hold(s, '127.0.0.5');
    expect((await ask(s, '127.0.0.5', 'GET', '/healthz')).status).toBe(200);
    expect((await ask(s, '127.0.0.5', 'POST', '/files', { 'Upload-Length': '5' })).status).toBe(201);
    for (let i = 0; i < 2; i++) await hold(s, '127.0.0.6');
    expect((await ask(s, '127.0.0.6', 'POST', '/files', { 'Upload-Length': '5' })).status).toBe(503);
    // 4 + 2 held: the total cap is reached for the proxy too; its health checks still get through.
    expect((await ask(s, '127.0.0.5', 'POST', '/files', { 'Upload-Length': '5' })).status).toBe(503);
    expect((await ask(s, '127.0.0.5', 'GET', '/healthz')).status).toBe(200);
  });
});
