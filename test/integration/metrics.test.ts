import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import pino from 'pino';
import Fastify from 'fastify';
import tusport, { buildApp, type TusportConfig } from '../../src/index.js';
import { freePort } from '../harness/ports.js';
import { until } from '../helpers/cli.js';
import { HOOK_SECRET, type Receiver, startReceiver } from '../helpers/hooks.js';
import { createUpload, errorOf, raw, TUS } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

// A real tusport with metrics on (their own listener on a free loopback port), real clients,
// metrics read by scraping that listener over HTTP, as Prometheus does.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function serverWithMetrics(extra: (dir: string) => Partial<TusportConfig> = () => ({}), metrics: Record<string, unknown> = {}): Promise<RunningTusport & { metricsUrl: string }> {
  const server = await startTusport((dir) => ({
    endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } }],
    ...extra(dir),
    metrics: { enabled: true, port: 0, ...metrics },
  }));
  cleanup.push(() => server.close());
  const metricsUrl = server.app.tusport.metrics?.url;
  if (!metricsUrl) throw new Error('no metrics listener');
  return { ...server, metricsUrl };
}

describe('metrics after real uploads', () => {
  it('a tus-js-client upload moves the counters by exactly what happened: 1 created, 1 finished, its size in bytes, one PATCH per chunk', async () => {
    const server = await serverWithMetrics();
    const before = await scrape(server.metricsUrl);
    const data = randomBytes(300_000);
    await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: 100_000 });
    const after = await scrape(server.metricsUrl);
    const delta = (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

    expect(delta('tusport_uploads_created')).toBe(1);
    expect(delta('tusport_uploads_finished')).toBe(1);
    expect(delta('tusport_uploads_terminated')).toBe(0);
    expect(delta('tusport_bytes_received')).toBe(data.length);
    expect(delta('tusport_requests_total', { method: 'POST', status: '201' })).toBe(1);
    expect(delta('tusport_requests_total', { method: 'PATCH', status: '204' })).toBe(3);
    expect(delta('tusport_errors_total')).toBe(0);
    // The creating POST (@tus/server locks the new upload) and each PATCH took the upload's lock;
    // each PATCH wrote through the store once.
    expect(delta('tusport_lock_wait_seconds_count', { outcome: 'acquired' })).toBe(4);
    expect(delta('tusport_store_operation_duration_seconds_count', { store: 'disk', operation: 'write', outcome: 'ok' })).toBe(3);
    expect(delta('tusport_store_operation_duration_seconds_count', { store: 'disk', operation: 'create' })).toBe(1);
    expect(after.value('tusport_writes_in_flight')).toBe(0);
    // prom-client's process metrics come along (per registry).
    expect(after.samples.some((s) => s.name === 'process_resident_memory_bytes')).toBe(true);
  });

  it('a terminated upload counts, and errors are counted by status and tusport code', async () => {
    const server = await serverWithMetrics();
    const before = await scrape(server.metricsUrl);
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
    expect((await raw(server.url, { method: 'DELETE', path: upload, headers: TUS })).status).toBe(204);
    const gone = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(gone.status).toBe(404);
    const missing = await raw(server.url, { method: 'PATCH', path: upload, headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'text/plain' }, body: 'x' });
    expect(missing.status).toBe(415);
    const after = await scrape(server.metricsUrl);
    const delta = (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

    expect(delta('tusport_uploads_created')).toBe(1);
    expect(delta('tusport_uploads_terminated')).toBe(1);
    expect(delta('tusport_uploads_finished')).toBe(0);
    expect(delta('tusport_requests_total', { method: 'DELETE', status: '204' })).toBe(1);
    expect(delta('tusport_requests_total', { method: 'HEAD', status: '404' })).toBe(1);
    // HEAD answers without a body; the code is the one PATCH's body names.
    expect(delta('tusport_errors_total', { status: '415', code: errorOf(missing).code })).toBe(1);
    expect(delta('tusport_errors_total', { status: '404' })).toBe(1);
    expect(delta('tusport_errors_total')).toBe(2);
  });

  it('a failing hook counts as an invocation and an error of its event; the refused creation counts as a 5xx', async () => {
    const receiver: Receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    receiver.answer = () => ({ status: 500, body: 'broken' });
    const server = await serverWithMetrics((dir) => ({
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          hooks: [{ type: 'http', url: receiver.url, secret: HOOK_SECRET, events: ['pre-create'], retries: 0 }],
        },
      ],
    }));
    const before = await scrape(server.metricsUrl);
    const refused = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '5' } });
    expect(refused.status).toBeGreaterThanOrEqual(500);
    const after = await scrape(server.metricsUrl);
    const delta = (name: string, labels?: Record<string, string>) => after.value(name, labels) - before.value(name, labels);

    expect(receiver.of('pre-create')).toHaveLength(1);
    expect(delta('tusport_hook_invocations_total', { hooktype: 'pre-create' })).toBe(1);
    expect(delta('tusport_hook_errors_total', { hooktype: 'pre-create' })).toBe(1);
    expect(delta('tusport_uploads_created')).toBe(0);
    expect(delta('tusport_errors_total', { status: String(refused.status), code: errorOf(refused).code })).toBe(1);
  });

  it('outbox depth: a post-finish notification whose receiver is down waits in the outbox and is counted there', async () => {
    const downPort = await freePort();
    const server = await serverWithMetrics((dir) => ({
      outbox: { type: 'disk', directory: path.join(dir, 'outbox') },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          hooks: [{ type: 'http', url: `http://127.0.0.1:${downPort}/hooks`, secret: HOOK_SECRET, events: ['post-finish'], retryDelay: 60_000 }],
        },
      ],
    }));
    expect((await scrape(server.metricsUrl)).value('tusport_outbox_depth')).toBe(0);
    await tusUpload(Buffer.from('hello'), { endpoint: `${server.url}/files` });
    expect((await scrape(server.metricsUrl)).value('tusport_outbox_depth')).toBe(1);
    // The first delivery attempt fails (nothing listens): one post-finish invocation, one error.
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_hook_errors_total', { hooktype: 'post-finish' }) === 1, 'the failed delivery');
    expect((await scrape(server.metricsUrl)).value('tusport_hook_invocations_total', { hooktype: 'post-finish' })).toBe(1);
  });

  it('open connections and in-flight PATCHes are what is open right now', async () => {
    const server = await serverWithMetrics();
    const base = (await scrape(server.metricsUrl)).value('tusport_connections_open');
    const port = Number(new URL(server.url).port);
    const sockets = await Promise.all([1, 2].map(() => new Promise<net.Socket>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    })));
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_connections_open') === base + 2, 'two more open connections');
    for (const socket of sockets) socket.destroy();
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_connections_open') === base, 'the connections closed');

    // A PATCH that has sent half its body is being written; once it ends, it is not.
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 10 });
    const request = http.request(`${server.url}${upload}`, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '10' },
    });
    const answered = new Promise<number>((resolve, reject) => {
      request.on('response', (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      request.on('error', reject);
    });
    request.write('12345');
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_writes_in_flight') === 1, 'one PATCH writing');
    request.end('67890');
    expect(await answered).toBe(204);
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_writes_in_flight') === 0, 'no PATCH writing');
    expect((await scrape(server.metricsUrl)).value('tusport_bytes_received')).toBe(10);
  });
});

describe('requests the client gives up on', () => {
  it('a PATCH whose client disconnects mid-body counts once, as aborted, and the bytes that reached the store count as received', async () => {
    const server = await serverWithMetrics();
    const upload = await createUpload(server.url, '/files', { 'Upload-Length': 100 });
    const request = http.request(`${server.url}${upload}`, {
      method: 'PATCH',
      headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream', 'Content-Length': '100' },
    });
    request.on('error', () => undefined);
    request.write(Buffer.alloc(40, 1));
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_writes_in_flight') === 1, 'the PATCH writing');
    request.destroy();
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_writes_in_flight') === 0, 'the write to end');
    await until(async () => (await scrape(server.metricsUrl)).value('tusport_requests_total', { method: 'PATCH' }) === 1, 'the PATCH to be counted');
    const after = await scrape(server.metricsUrl);
    expect(after.value('tusport_requests_total', { method: 'PATCH', status: 'aborted' })).toBe(1);
    const offset = Number((await raw(server.url, { method: 'HEAD', path: upload, headers: TUS })).headers['upload-offset']);
    expect(offset).toBe(40);
    expect(after.value('tusport_bytes_received')).toBe(offset);
  });
});

describe('the metrics listener', () => {
  it('is off by default: no handle, nothing at /metrics on the upload port', async () => {
    const server = await startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } }] }));
    cleanup.push(() => server.close());
    expect(server.app.tusport.metrics).toBeUndefined();
    expect((await raw(server.url, { method: 'GET', path: '/metrics' })).status).toBe(404);
  });

  it('serves only its own port and path, and with a token only to scrapers that send it', async () => {
    const token = 'metrics-token-for-tests-7c1d';
    const server = await serverWithMetrics(() => ({}), { token, path: '/prom' });
    const url = new URL(server.metricsUrl);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.pathname).toBe('/prom');
    // Not on the upload port.
    expect((await raw(server.url, { method: 'GET', path: '/prom' })).status).toBe(404);
    const anonymous = await raw(url.origin, { method: 'GET', path: '/prom' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(anonymous.body).not.toContain('tusport_');
    expect((await raw(url.origin, { method: 'GET', path: '/prom', headers: { Authorization: `Bearer ${token}x` } })).status).toBe(401);
    expect((await raw(url.origin, { method: 'GET', path: '/metrics', headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
    const scraped = await scrape(server.metricsUrl, token);
    expect(scraped.text).toContain('# TYPE tusport_requests_total counter');
  });

  it('two apps in one process count apart (one registry each)', async () => {
    const first = await serverWithMetrics();
    const second = await serverWithMetrics();
    await tusUpload(Buffer.from('only to the first'), { endpoint: `${first.url}/files` });
    expect((await scrape(first.metricsUrl)).value('tusport_uploads_finished')).toBe(1);
    expect((await scrape(second.metricsUrl)).value('tusport_uploads_finished')).toBe(0);
    expect((await scrape(second.metricsUrl)).value('tusport_bytes_received')).toBe(0);
  });

  it('a metrics port that is taken fails listen, naming the metrics listener', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => blocker.close(resolve)));
    const port = (blocker.address() as net.AddressInfo).port;
    const scratch = await tempDir();
    cleanup.push(() => scratch.remove());
    const app = buildApp({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(scratch.dir, 'files') } }], metrics: { enabled: true, port } }, { logger: pino({ level: 'silent' }) });
    cleanup.push(() => app.close());
    await expect(app.listen({ host: '127.0.0.1', port: 0 })).rejects.toThrow(`Cannot listen for metrics on 127.0.0.1:${port}: the address is already in use`);
  });
});

describe('embedded in a host app', () => {
  it('counts only tusport\'s routes under its prefix, serves /readyz there, and hands the text to the host', async () => {
    const scratch = await tempDir();
    cleanup.push(() => scratch.remove());
    const host = Fastify();
    cleanup.push(() => host.close());
    host.get('/host', async () => ({ host: true }));
    await host.register(tusport, {
      prefix: '/uploads',
      endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(scratch.dir, 'files') } }],
      metrics: { enabled: true, port: 0 },
    });
    host.get('/metrics', async (_request, reply) => reply.type(host.tusport.metrics!.contentType).send(await host.tusport.metrics!.text()));
    await host.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(host.server.address() as net.AddressInfo).port}`;

    expect((await raw(url, { method: 'GET', path: '/host' })).status).toBe(200);
    await tusUpload(Buffer.from('through the host'), { endpoint: `${url}/uploads/files` });
    const ready = await raw(url, { method: 'GET', path: '/uploads/readyz' });
    expect(ready.status).toBe(200);

    const scraped = await scrape(host.tusport.metrics!.url!);
    expect(scraped.value('tusport_uploads_finished')).toBe(1);
    expect(scraped.value('tusport_requests_total', { method: 'POST', status: '201' })).toBe(1);
    // The host's own route is the host's business; /uploads/readyz is tusport's.
    expect(scraped.value('tusport_requests_total', { method: 'GET', status: '200' })).toBe(1);
    // The host serves the same registry itself.
    const served = await raw(url, { method: 'GET', path: '/metrics' });
    expect(served.headers['content-type']).toMatch(/^text\/plain/);
    expect(served.body).toContain('tusport_uploads_finished 1');
  });
});
