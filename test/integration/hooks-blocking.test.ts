import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, listTree, sizeOf } from '../helpers/files.js';
import { gate } from '../helpers/gate.js';
import { HOOK_SECRET, type Receiver, startReceiver, tusMetadata } from '../helpers/hooks.js';
import { until } from '../helpers/wait.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

let receiver: Receiver;
let server: RunningTusport;
/** Hook answers held back to provoke timeouts are released when the file is done. */
const held = gate();
/** Uploads on /finish-timeout whose pre-finish is answered (the others' is held back). */
const answerPreFinish = new Set<string>();
const TIMEOUT_MS = 300;

/** A request body the test feeds piece by piece: nothing is sent until it says so. */
function feed() {
  const body = new PassThrough();
  return { body, send: (bytes: Buffer | string) => body.write(bytes), end: (bytes?: Buffer | string) => body.end(bytes) };
}

beforeAll(async () => {
  receiver = await startReceiver();
  const hook = { type: 'http' as const, url: receiver.url, secret: HOOK_SECRET, retryDelay: 20, maxRetryDelay: 100 };
  // A generous timeout where the receiver answers (a slow machine must not turn a 502 into a
  // 503), a short one only where the receiver is made never to answer in time.
  const answering = { ...hook, events: ['pre-create' as const, 'pre-finish' as const], timeout: 10_000, retries: 1 };
  const timingOut = { ...hook, timeout: TIMEOUT_MS, retries: 1 };
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      { path: '/closed', store: { type: 'disk', directory: path.join(dir, 'closed') }, hooks: [answering] },
      { path: '/create-timeout', store: { type: 'disk', directory: path.join(dir, 'create-timeout') }, hooks: [{ ...timingOut, events: ['pre-create'] }] },
      { path: '/finish-timeout', store: { type: 'disk', directory: path.join(dir, 'finish-timeout') }, hooks: [{ ...timingOut, events: ['pre-finish'] }] },
      { path: '/open', store: { type: 'disk', directory: path.join(dir, 'open') }, hooks: [{ ...timingOut, events: ['pre-create', 'pre-finish'], failOpen: true }] },
      { path: '/progress', store: { type: 'disk', directory: path.join(dir, 'progress') }, hooks: [{ ...hook, events: ['post-receive'] }], postReceiveInterval: 50 },
      { path: '/throttle', store: { type: 'disk', directory: path.join(dir, 'throttle') }, hooks: [{ ...hook, events: ['post-receive'] }], postReceiveInterval: '1h' },
      { path: '/stop', store: { type: 'disk', directory: path.join(dir, 'stop') }, hooks: [{ ...hook, events: ['post-receive', 'post-terminate'] }], postReceiveInterval: 100 },
    ],
  }));
  receiver.answer = ({ json }) => {
    const endpoint = json.Tusport.Endpoint;
    if (endpoint === '/stop' && json.Type === 'post-receive') {
      return { body: { StopUpload: true, HTTPResponse: { StatusCode: 400, Body: 'stopped by hook' } } };
    }
    if (endpoint === '/create-timeout' || endpoint === '/open') return { after: held.promise };
    if (endpoint === '/finish-timeout' && !answerPreFinish.has(json.Event.Upload.ID)) return { after: held.promise };
    if (json.Event.Upload.MetaData.broken === 'yes') return { status: 400, body: 'bad request' };
    if (json.Event.Upload.MetaData.garbage === 'yes') return { body: 'this is not JSON' };
    return undefined;
  };
});
afterAll(async () => {
  held.open();
  await server?.close();
  await receiver?.close();
});

describe('blocking hooks fail closed by default', () => {
  it('a pre-create timeout answers 503 with a clear message, after the configured retry, and creates nothing', async () => {
    const before = receiver.of('pre-create').length;
    const response = await raw(server.url, { method: 'POST', path: '/create-timeout', headers: { ...TUS, 'Upload-Length': 3 } });
    expect(response.status).toBe(503);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_HOOK_UNAVAILABLE');
    expect(errorOf(response).message).toBe(`The pre-create hook is unavailable (timed out after ${TIMEOUT_MS} ms); no upload was created, retry later`);
    expect(response.body).not.toContain(receiver.url);
    expect(await listTree(path.join(server.dir, 'create-timeout'))).toEqual([]);
    // retries: 1 means two attempts, with one idempotency key.
    const attempts = receiver.of('pre-create').slice(before).filter((r) => r.json.Tusport.Endpoint === '/create-timeout');
    expect(attempts).toHaveLength(2);
    expect(new Set(attempts.map((a) => a.headers['idempotency-key'])).size).toBe(1);
  });

  it('a receiver that answers non-2xx or garbage is a hook error (502), not retried', async () => {
    const brokenOnes = () => receiver.of('pre-create').filter((r) => r.json.Event.Upload.MetaData.broken === 'yes').length;
    const before = brokenOnes();
    const broken = await raw(server.url, { method: 'POST', path: '/closed', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ broken: 'yes' }) } });
    expect(broken.status).toBe(502);
    expect(errorOf(broken)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_FAILED' });
    expect(errorOf(broken).message).toContain('answered HTTP 400');
    expect(brokenOnes()).toBe(before + 1);
    const garbage = await raw(server.url, { method: 'POST', path: '/closed', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ garbage: 'yes' }) } });
    expect(garbage.status).toBe(502);
    expect(errorOf(garbage).message).toContain('not JSON');
    expect(await listTree(path.join(server.dir, 'closed'))).toEqual([]);
  });

  it('a pre-finish timeout leaves the upload unfinished at its previous offset; the client resends and finishes', async () => {
    const location = await createUpload(server.url, '/finish-timeout', { 'Upload-Length': 6 });
    expect((await patch(server.url, location, 0, 'abc')).status).toBe(204);
    const failed = await patch(server.url, location, 3, 'def');
    expect(failed.status).toBe(503);
    expect(errorOf(failed).message).toContain(`The pre-finish hook is unavailable (timed out after ${TIMEOUT_MS} ms)`);
    expect(await headOffset(server.url, location)).toBe(3);
    expect((await raw(server.url, { method: 'GET', path: location })).status).toBe(409);
    answerPreFinish.add(idOf(location));
    expect((await patch(server.url, location, 3, 'def')).status).toBe(204);
    const download = await raw(server.url, { method: 'GET', path: location });
    expect(download.status).toBe(200);
    expect(download.body).toBe('abcdef');
  });

  it('failOpen: a timing-out hook lets creation and finishing go ahead', async () => {
    const location = await createUpload(server.url, '/open', { 'Upload-Length': 3 });
    expect((await patch(server.url, location, 0, 'xyz')).status).toBe(204);
    expect((await raw(server.url, { method: 'GET', path: location })).body).toBe('xyz');
    const asked = receiver.received.filter((r) => r.json.Event.Upload.ID === idOf(location)).map((r) => r.type);
    expect(asked).toEqual(expect.arrayContaining(['pre-finish']));
  });
});

describe('post-receive', () => {
  it('reports what has arrived while a PATCH is still streaming, in order, each offset once', async () => {
    const location = await createUpload(server.url, '/progress', { 'Upload-Length': 300 });
    const reports = () => receiver.of('post-receive').filter((r) => r.json.Event.Upload.ID === idOf(location));
    const { body, send, end } = feed();
    const response = patch(server.url, location, 0, body);
    for (const offset of [100, 200]) {
      send(Buffer.alloc(100, 'p'));
      // The PATCH is stalled here: only a report sent mid-request can carry this offset.
      await until(() => reports().some((r) => r.json.Event.Upload.Offset === offset), `a post-receive at offset ${offset}`);
    }
    end(Buffer.alloc(100, 'q'));
    expect((await response).status).toBe(204);
    // The end of the PATCH reports 300 unless that falls within the interval of the last report.
    const offsets = reports().map((r) => r.json.Event.Upload.Offset);
    expect(offsets.slice(0, 2)).toEqual([100, 200]);
    expect(offsets.slice(2).filter((offset) => offset !== 300)).toEqual([]);
    expect(offsets.length).toBeLessThanOrEqual(3);
    for (const report of reports()) expect(report.headers['idempotency-key']).toBe(`${idOf(location)}:post-receive:${report.json.Event.Upload.Offset}`);
  });

  it('is throttled per upload to postReceiveInterval: one report for a PATCH, none for the next one within the interval', async () => {
    const location = await createUpload(server.url, '/throttle', { 'Upload-Length': 800 });
    const reports = () => receiver.of('post-receive').filter((r) => r.json.Event.Upload.ID === idOf(location));
    const { body, send, end } = feed();
    const first = patch(server.url, location, 0, body);
    for (let i = 0; i < 3; i += 1) {
      send(Buffer.alloc(100, 97 + i));
      await until(async () => (await sizeOf(path.join(server.dir, 'throttle', idOf(location)))) === (i + 1) * 100, 'the bytes on disk');
    }
    end();
    expect((await first).status).toBe(204);
    await until(() => reports().length === 1, 'the one report of the first PATCH');
    expect(reports()[0]?.json.Event.Upload.Offset).toBe(300);
    expect((await patch(server.url, location, 300, Buffer.alloc(300, 'z'))).status).toBe(204);
    // A third upload's report is the barrier: the receiver got everything sent before it.
    const other = await createUpload(server.url, '/throttle', { 'Upload-Length': 10 });
    expect((await patch(server.url, other, 0, Buffer.alloc(5, 'o'))).status).toBe(204);
    await until(() => receiver.of('post-receive').some((r) => r.json.Event.Upload.ID === idOf(other)), 'the other upload\'s report');
    expect(reports().map((r) => r.json.Event.Upload.Offset)).toEqual([300]);
  });

  it('StopUpload interrupts the PATCH with the hook\'s answer and terminates the upload', async () => {
    const location = await createUpload(server.url, '/stop', { 'Upload-Length': 4000 });
    const { body, send } = feed();
    const pending = patch(server.url, location, 0, body);
    // 100 of 4000 bytes, then the body stalls: the hook's answer to the progress report ends it.
    send(Buffer.alloc(100, 's'));
    const response = await pending;
    body.destroy();
    expect(response.status).toBe(400);
    expect(response.body).toBe('stopped by hook');
    await until(async () => (await raw(server.url, { method: 'HEAD', path: location, headers: TUS })).status === 404, 'the stopped upload to be gone');
    await until(() => receiver.of('post-terminate').some((r) => r.json.Event.Upload.ID === idOf(location)), 'post-terminate');
    expect((await patch(server.url, location, 0, 'x')).status).toBe(404);
  });
});
