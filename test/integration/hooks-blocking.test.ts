import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listTree } from '../helpers/files.js';
import { HOOK_SECRET, type Receiver, startReceiver, tusMetadata } from '../helpers/hooks.js';
import { until } from '../helpers/cli.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

let receiver: Receiver;
let server: RunningTusport;
/** While true, the receiver answers blocking events too late for the hooks' 300 ms timeout. */
let slow = false;
const idOf = (location: string) => location.split('/').pop() ?? '';

/** A request body that trickles in: `count` chunks of `size` bytes, `gapMs` apart. */
async function* trickle(count: number, size: number, gapMs: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < count; i += 1) {
    yield Buffer.alloc(size, 97 + (i % 26));
    await sleep(gapMs);
  }
}

beforeAll(async () => {
  receiver = await startReceiver();
  const hook = { type: 'http' as const, url: receiver.url, secret: HOOK_SECRET, retryDelay: 20, maxRetryDelay: 100 };
  const blocking = { ...hook, events: ['pre-create' as const, 'pre-finish' as const], timeout: 300, retries: 1 };
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      { path: '/closed', store: { type: 'disk', directory: path.join(dir, 'closed') }, hooks: [blocking] },
      { path: '/open', store: { type: 'disk', directory: path.join(dir, 'open') }, hooks: [{ ...blocking, failOpen: true }] },
      { path: '/progress', store: { type: 'disk', directory: path.join(dir, 'progress') }, hooks: [{ ...hook, events: ['post-receive'] }], postReceiveInterval: 200 },
      { path: '/stop', store: { type: 'disk', directory: path.join(dir, 'stop') }, hooks: [{ ...hook, events: ['post-receive', 'post-terminate'] }], postReceiveInterval: 100 },
    ],
  }));
  receiver.answer = ({ json }) => {
    if (json.Tusport.Endpoint === '/stop' && json.Type === 'post-receive') {
      return { body: { StopUpload: true, HTTPResponse: { StatusCode: 400, Body: 'stopped by hook' } } };
    }
    if (json.Event.Upload.MetaData.broken === 'yes') return { status: 400, body: 'bad request' };
    if (json.Event.Upload.MetaData.garbage === 'yes') return { body: 'this is not JSON' };
    return slow && json.Type.startsWith('pre-') ? { delayMs: 1000 } : undefined;
  };
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('blocking hooks fail closed by default', () => {
  it('a pre-create timeout answers 503 with a clear message, after the configured retry, and creates nothing', async () => {
    slow = true;
    try {
      const before = receiver.of('pre-create').length;
      const response = await raw(server.url, { method: 'POST', path: '/closed', headers: { ...TUS, 'Upload-Length': 3 } });
      expect(response.status).toBe(503);
      expect(errorOf(response).code).toBe('TUSPORT_ERR_HOOK_UNAVAILABLE');
      expect(errorOf(response).message).toBe('The pre-create hook is unavailable (timed out after 300 ms); no upload was created, retry later');
      expect(response.body).not.toContain(receiver.url);
      expect(await listTree(path.join(server.dir, 'closed'))).toEqual([]);
      // retries: 1 means two attempts, with one idempotency key.
      const attempts = receiver.of('pre-create').slice(before);
      expect(attempts).toHaveLength(2);
      expect(new Set(attempts.map((a) => a.headers['idempotency-key'])).size).toBe(1);
    } finally {
      slow = false;
    }
  });

  it('a receiver that answers non-2xx or garbage is a hook error (502), not retried', async () => {
    const before = receiver.of('pre-create').length;
    const broken = await raw(server.url, { method: 'POST', path: '/closed', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ broken: 'yes' }) } });
    expect(broken.status).toBe(502);
    expect(errorOf(broken)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_FAILED' });
    expect(errorOf(broken).message).toContain('answered HTTP 400');
    expect(receiver.of('pre-create').length).toBe(before + 1);
    const garbage = await raw(server.url, { method: 'POST', path: '/closed', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ garbage: 'yes' }) } });
    expect(garbage.status).toBe(502);
    expect(errorOf(garbage).message).toContain('not JSON');
    expect(await listTree(path.join(server.dir, 'closed'))).toEqual([]);
  });

  it('a pre-finish timeout leaves the upload unfinished at its previous offset; the client resends and finishes', async () => {
    const location = await createUpload(server.url, '/closed', { 'Upload-Length': 6 });
    expect((await patch(server.url, location, 0, 'abc')).status).toBe(204);
    slow = true;
    try {
      const failed = await patch(server.url, location, 3, 'def');
      expect(failed.status).toBe(503);
      expect(errorOf(failed).message).toContain('The pre-finish hook is unavailable (timed out after 300 ms)');
    } finally {
      slow = false;
    }
    expect(await headOffset(server.url, location)).toBe(3);
    expect((await raw(server.url, { method: 'GET', path: location })).status).toBe(409);
    expect((await patch(server.url, location, 3, 'def')).status).toBe(204);
    const download = await raw(server.url, { method: 'GET', path: location });
    expect(download.status).toBe(200);
    expect(download.body).toBe('abcdef');
  });

  it('failOpen: a timing-out hook lets creation and finishing go ahead', async () => {
    slow = true;
    try {
      const location = await createUpload(server.url, '/open', { 'Upload-Length': 3 });
      expect((await patch(server.url, location, 0, 'xyz')).status).toBe(204);
      expect((await raw(server.url, { method: 'GET', path: location })).body).toBe('xyz');
    } finally {
      slow = false;
    }
  });
});

describe('post-receive', () => {
  it('is throttled per upload to postReceiveInterval while a slow PATCH streams in', async () => {
    const location = await createUpload(server.url, '/progress', { 'Upload-Length': 800 });
    const started = Date.now();
    const response = await patch(server.url, location, 0, trickle(8, 100, 150));
    const duration = Date.now() - started;
    expect(response.status).toBe(204);
    await sleep(300);
    const reports = receiver.of('post-receive').filter((r) => r.json.Event.Upload.ID === idOf(location));
    expect(reports.length).toBeGreaterThanOrEqual(1);
    expect(reports.length).toBeLessThanOrEqual(Math.floor(duration / 200) + 2);
    const offsets = reports.map((r) => r.json.Event.Upload.Offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(Math.max(...offsets)).toBeLessThanOrEqual(800);
    for (const report of reports) expect(report.headers['idempotency-key']).toBe(`${idOf(location)}:post-receive:${report.json.Event.Upload.Offset}`);
  });

  it('StopUpload interrupts the PATCH with the hook\'s answer and terminates the upload', async () => {
    const location = await createUpload(server.url, '/stop', { 'Upload-Length': 4000 });
    const response = await patch(server.url, location, 0, trickle(40, 100, 100));
    expect(response.status).toBe(400);
    expect(response.body).toBe('stopped by hook');
    await until(async () => (await raw(server.url, { method: 'HEAD', path: location, headers: TUS })).status === 404, 'the stopped upload to be gone');
    await until(() => receiver.of('post-terminate').some((r) => r.json.Event.Upload.ID === idOf(location)), 'post-terminate');
    expect((await patch(server.url, location, 0, 'x')).status).toBe(404);
  });
});
