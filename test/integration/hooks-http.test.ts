import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyHookSignature } from '../../src/index.js';
import { idOf, listTree } from '../helpers/files.js';
import { everNotified, HOOK_SECRET, type Receiver, startReceiver, tusMetadata } from '../helpers/hooks.js';
import { until } from '../helpers/wait.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

const ALL_EVENTS = ['pre-create', 'post-create', 'post-receive', 'pre-finish', 'post-finish', 'pre-terminate', 'post-terminate'] as const;

let receiver: Receiver;
let server: RunningTusport;
const outbox = () => path.join(server.dir, 'outbox');

beforeAll(async () => {
  receiver = await startReceiver();
  const hook = { type: 'http' as const, url: receiver.url, secret: HOOK_SECRET, retries: 0, retryDelay: 50, maxRetryDelay: 200 };
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, hooks: [{ ...hook, events: [...ALL_EVENTS] }], postReceiveInterval: 100 },
      { path: '/fwd', store: { type: 'disk', directory: path.join(dir, 'fwd') }, hooks: [{ ...hook, events: ['pre-create'], forwardHeaders: ['Authorization'] }] },
    ],
  }));
  // Default: yes to everything; tests below say no by metadata.
  receiver.answer = ({ json }) => {
    const meta = json.Event.Upload.MetaData;
    if (json.Type === 'pre-create' && meta.filename === 'cat.png') {
      return { body: { RejectUpload: true, HTTPResponse: { StatusCode: 403, Body: '{"message":"no cats"}', Header: { 'Content-Type': 'application/json', 'X-Reason': 'cats' } } } };
    }
    if (json.Type === 'pre-create' && meta.rename === 'yes') return { body: { ChangeFileInfo: { MetaData: { filename: 'renamed.txt', checked: 'by hook' } } } };
    if (json.Type === 'pre-create' && meta.id !== undefined) return { body: { ChangeFileInfo: { ID: meta.id } } };
    if (json.Type === 'pre-finish' && meta.finish === 'no') {
      return { body: { RejectUpload: true, HTTPResponse: { StatusCode: 422, Body: 'virus found', Header: { 'X-Scan': 'infected' } } } };
    }
    if (meta.tag === 'yes' && json.Type === 'pre-create') return { body: { HTTPResponse: { Header: { 'X-Tag': 'created' } } } };
    if (meta.tag === 'yes' && json.Type === 'pre-finish') return { body: { HTTPResponse: { StatusCode: 200, Header: { 'X-Scan': 'clean' } } } };
    if (json.Type === 'pre-terminate' && meta.keep === 'yes') return { body: { RejectTermination: true, HTTPResponse: { StatusCode: 403, Body: 'kept for audit' } } };
    return undefined;
  };
});
afterAll(async () => {
  await server?.close();
  await receiver?.close();
});

describe('http hooks: the tusd v2 contract', () => {
  it('every event reaches the receiver with tusd v2 field names, signed, with an idempotency key', async () => {
    const data = Buffer.from('hello hooks, in three chunks');
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: 10, metadata: { filename: 'a.txt', filetype: 'text/plain' } });
    const id = idOf(url);
    const uploadPath = new URL(url).pathname;
    const deleted = await raw(server.url, { method: 'DELETE', path: uploadPath, headers: TUS });
    expect(deleted.status).toBe(204);
    await until(() => receiver.of('post-terminate').some((r) => r.json.Event.Upload.ID === id), 'post-terminate');
    await until(() => receiver.of('post-finish').some((r) => r.json.Event.Upload.ID === id), 'post-finish');

    const mine = receiver.received.filter((r) => r.json.Event.Upload.ID === id || (r.type === 'pre-create' && r.json.Event.Upload.MetaData.filename === 'a.txt'));
    expect(new Set(mine.map((r) => r.type))).toEqual(new Set(ALL_EVENTS));

    const preCreate = mine.find((r) => r.type === 'pre-create')!.json;
    expect(preCreate.Event.Upload).toMatchObject({ ID: '', Size: data.length, SizeIsDeferred: false, Offset: 0, Storage: null, IsPartial: false, IsFinal: false, PartialUploads: null });
    expect(preCreate.Event.Upload.MetaData).toEqual({ filename: 'a.txt', filetype: 'text/plain' });
    expect(preCreate.Event.HTTPRequest).toMatchObject({ Method: 'POST', URI: '/files' });
    expect(preCreate.Event.HTTPRequest.RemoteAddr).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(preCreate.Event.HTTPRequest.Header['Tus-Resumable']).toEqual(['1.0.0']);
    expect(preCreate.Event.HTTPRequest.Header['Upload-Length']).toEqual([String(data.length)]);
    expect(preCreate.Tusport).toMatchObject({ Version: 1, Endpoint: '/files', Params: {}, Principal: null, URL: null, FinalPath: null });

    const finish = mine.find((r) => r.type === 'post-finish')!;
    const dataPath = path.join(server.dir, 'files', id);
    expect(finish.json.Event.Upload).toMatchObject({ ID: id, Size: data.length, Offset: data.length, SizeIsDeferred: false });
    expect(finish.json.Event.Upload.Storage).toEqual({ Type: 'filestore', Path: dataPath, InfoPath: `${dataPath}.json` });
    expect(finish.json.Event.HTTPRequest.Method).toBe('PATCH');
    expect(finish.json.Event.HTTPRequest.URI).toBe(uploadPath);
    expect(finish.json.Tusport).toMatchObject({ Endpoint: '/files', URL: uploadPath });
    expect(finish.json.Tusport.RequestID).toEqual(expect.any(String));
    expect(finish.headers['idempotency-key']).toBe(`${id}:post-finish`);
    expect(finish.headers['content-type']).toBe('application/json');

    const preFinish = mine.find((r) => r.type === 'pre-finish')!.json;
    expect(preFinish.Event.Upload.Offset).toBe(data.length);
    const terminate = mine.find((r) => r.type === 'pre-terminate')!.json;
    expect(terminate.Event.HTTPRequest.Method).toBe('DELETE');

    for (const entry of mine) {
      expect(verifyHookSignature(HOOK_SECRET, entry.headers['tusport-signature'], entry.raw), entry.type).toBe(true);
      expect(String(entry.headers['idempotency-key'])).toMatch(new RegExp(`^${id}:${entry.type}`));
    }
  });

  it('a signature verifies only for the exact body, the right secret and a fresh timestamp', async () => {
    await createUpload(server.url, '/files', { 'Upload-Length': 3 });
    const entry = receiver.of('pre-create').at(-1)!;
    const header = String(entry.headers['tusport-signature']);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyHookSignature(HOOK_SECRET, header, entry.raw)).toBe(true);
    expect(verifyHookSignature(HOOK_SECRET, header, Buffer.from(entry.raw))).toBe(true);
    const tampered = entry.raw.replace('"Upload-Length":["3"]', '"Upload-Length":["4"]');
    expect(tampered).not.toBe(entry.raw);
    expect(verifyHookSignature(HOOK_SECRET, header, tampered)).toBe(false);
    expect(verifyHookSignature(`${HOOK_SECRET}x`, header, entry.raw)).toBe(false);
    const signedAt = Number(/t=(\d+)/.exec(header)?.[1]);
    expect(verifyHookSignature(HOOK_SECRET, header, entry.raw, 300, signedAt + 301)).toBe(false);
    expect(verifyHookSignature(HOOK_SECRET, header, entry.raw, 300, signedAt + 299)).toBe(true);
    expect(verifyHookSignature(HOOK_SECRET, undefined, entry.raw)).toBe(false);
    expect(verifyHookSignature(HOOK_SECRET, 'v1=00', entry.raw)).toBe(false);
  });

  it('Authorization and Cookie are not forwarded unless the hook lists them', async () => {
    const secretHeaders = { Authorization: 'Bearer not-for-hooks', Cookie: 'session=not-for-hooks' };
    await createUpload(server.url, '/files', { 'Upload-Length': 1, ...secretHeaders });
    const plain = receiver.of('pre-create').at(-1)!;
    expect(plain.raw).not.toContain('not-for-hooks');
    expect(plain.headers.authorization).toBeUndefined();

    await createUpload(server.url, '/fwd', { 'Upload-Length': 1, ...secretHeaders });
    const forwarded = receiver.of('pre-create').at(-1)!;
    expect(forwarded.json.Tusport.Endpoint).toBe('/fwd');
    expect(forwarded.json.Event.HTTPRequest.Header.Authorization).toEqual(['Bearer not-for-hooks']);
    expect(forwarded.json.Event.HTTPRequest.Header.Cookie).toBeUndefined();
    // As tusd does: a forwarded header is also set on the hook's own request.
    expect(forwarded.headers.authorization).toBe('Bearer not-for-hooks');
  });
});

describe('pre-create', () => {
  it('a rejection reaches the client with the hook\'s status, body and headers; nothing is created', async () => {
    const before = await listTree(path.join(server.dir, 'files'));
    const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 5, 'Upload-Metadata': tusMetadata({ filename: 'cat.png' }) } });
    expect(response.status).toBe(403);
    expect(response.body).toBe('{"message":"no cats"}');
    expect(response.headers['x-reason']).toBe('cats');
    expect(response.headers['content-type']).toContain('application/json');
    expect(response.headers.location).toBeUndefined();
    expect(await listTree(path.join(server.dir, 'files'))).toEqual(before);
    expect(await everNotified(receiver, outbox(), (r) => r.Type === 'post-create' && r.Event.Upload.MetaData.filename === 'cat.png')).toBe(false);
  });

  it('ChangeFileInfo.MetaData replaces the metadata: the sidecar and HEAD show the hook\'s', async () => {
    const location = await createUpload(server.url, '/files', { 'Upload-Length': 5, 'Upload-Metadata': tusMetadata({ filename: 'orig.txt', rename: 'yes' }) });
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'files', `${idOf(location)}.json`), 'utf8'));
    expect(sidecar.metadata).toEqual({ filename: 'renamed.txt', checked: 'by hook' });
    const head = await raw(server.url, { method: 'HEAD', path: location, headers: TUS });
    expect(head.headers['upload-metadata']).toBe(tusMetadata({ filename: 'renamed.txt', checked: 'by hook' }));
    await until(() => receiver.of('post-create').some((r) => r.json.Event.Upload.ID === idOf(location)), 'post-create');
    expect(receiver.of('post-create').find((r) => r.json.Event.Upload.ID === idOf(location))?.json.Event.Upload.MetaData.checked).toBe('by hook');
  });

  it('ChangeFileInfo.ID sets the upload id; a taken id is 409 and leaves the first upload alone', async () => {
    const headers = { 'Upload-Length': 5, 'Upload-Metadata': tusMetadata({ id: 'chosen-by_hook1' }) };
    const location = await createUpload(server.url, '/files', headers);
    expect(location).toBe('/files/chosen-by_hook1');
    const sidecarFile = path.join(server.dir, 'files', 'chosen-by_hook1.json');
    const first = await readFile(sidecarFile, 'utf8');
    const again = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, ...headers, 'Upload-Length': 7 } });
    expect(again.status).toBe(409);
    expect(errorOf(again).code).toBe('TUSPORT_ERR_UPLOAD_ID_TAKEN');
    expect(await readFile(sidecarFile, 'utf8')).toBe(first);
    expect((await patch(server.url, location, 0, 'abcde')).status).toBe(204);
  });

  it('an id outside the id rules is a hook error (502), and nothing is created', async () => {
    const before = await listTree(path.join(server.dir, 'files'));
    const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 5, 'Upload-Metadata': tusMetadata({ id: '../escape' }) } });
    expect(response.status).toBe(502);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_HOOK_FAILED' });
    expect(errorOf(response).message).toContain('ChangeFileInfo.ID');
    expect(await listTree(path.join(server.dir, 'files'))).toEqual(before);
  });
});

describe('pre-finish', () => {
  it('a rejection answers the final PATCH with the hook\'s answer, deletes the upload, and no post-finish fires', async () => {
    const location = await createUpload(server.url, '/files', { 'Upload-Length': 6, 'Upload-Metadata': tusMetadata({ finish: 'no' }) });
    const id = idOf(location);
    expect((await patch(server.url, location, 0, 'abc')).status).toBe(204);
    const last = await patch(server.url, location, 3, 'def');
    expect(last.status).toBe(422);
    expect(last.body).toBe('virus found');
    expect(last.headers['x-scan']).toBe('infected');
    expect((await raw(server.url, { method: 'HEAD', path: location, headers: TUS })).status).toBe(404);
    expect(await listTree(path.join(server.dir, 'files'))).not.toContain(id);
    expect(receiver.of('pre-finish').some((r) => r.json.Event.Upload.ID === id)).toBe(true);
    expect(await everNotified(receiver, outbox(), (r) => r.Type === 'post-finish' && r.Event.Upload.ID === id)).toBe(false);
  });

  it('also for creation-with-upload: the POST gets the hook\'s answer and no upload is left', async () => {
    const before = await listTree(path.join(server.dir, 'files'));
    const response = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': 4, 'Upload-Metadata': tusMetadata({ finish: 'no' }), 'Content-Type': 'application/offset+octet-stream' },
      body: 'data',
    });
    expect(response.status).toBe(422);
    expect(response.body).toBe('virus found');
    expect(response.headers['x-scan']).toBe('infected');
    expect(await listTree(path.join(server.dir, 'files'))).toEqual(before);
  });
});

describe('headers from an accepting hook', () => {
  it('reach the client: pre-create on the 201, pre-finish on the final answer (whose status stays tus\'s)', async () => {
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 2, 'Upload-Metadata': tusMetadata({ tag: 'yes' }) } });
    expect(created.status).toBe(201);
    expect(created.headers['x-tag']).toBe('created');
    const location = new URL(String(created.headers.location)).pathname;
    const finished = await patch(server.url, location, 0, 'ok');
    expect(finished.status).toBe(204);
    expect(finished.headers['x-scan']).toBe('clean');
  });
});

describe('pre-terminate', () => {
  it('a refusal keeps the upload; without one DELETE removes it and post-terminate fires', async () => {
    const kept = await createUpload(server.url, '/files', { 'Upload-Length': 5, 'Upload-Metadata': tusMetadata({ keep: 'yes' }) });
    const refused = await raw(server.url, { method: 'DELETE', path: kept, headers: TUS });
    expect(refused.status).toBe(403);
    expect(refused.body).toBe('kept for audit');
    expect((await raw(server.url, { method: 'HEAD', path: kept, headers: TUS })).status).toBe(200);
    await stat(path.join(server.dir, 'files', idOf(kept)));
    expect(await everNotified(receiver, outbox(), (r) => r.Type === 'post-terminate' && r.Event.Upload.ID === idOf(kept))).toBe(false);

    const gone = await createUpload(server.url, '/files', { 'Upload-Length': 5 });
    expect((await raw(server.url, { method: 'DELETE', path: gone, headers: TUS })).status).toBe(204);
    expect((await raw(server.url, { method: 'HEAD', path: gone, headers: TUS })).status).toBe(404);
    await until(() => receiver.of('post-terminate').some((r) => r.json.Event.Upload.ID === idOf(gone)), 'post-terminate');
  });
});
