import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOOK_SECRET, type Receiver, startReceiver, tusMetadata } from '../helpers/hooks.js';
import { createUpload, patch, raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { idOf } from '../helpers/files.js';

/**
 * Finding 9 of issue 11: a hook's answer may set headers, but not the ones that frame the HTTP
 * message, belong to one hop, or carry the tus protocol: a pre-create answer with
 * `Content-Length: 1000` made a 201 that promised a body it never sent, and the client hung.
 */
const HOSTILE = {
  'Content-Length': '1000',
  'Transfer-Encoding': 'chunked',
  Connection: 'close',
  'Keep-Alive': 'timeout=999',
  Upgrade: 'websocket',
  Trailer: 'X-Checksum',
  TE: 'trailers',
  'Proxy-Authenticate': 'Basic',
  'Content-Encoding': 'gzip',
  Location: 'http://evil.example/files/x',
  'Tus-Resumable': '0.2.2',
  'Upload-Offset': '7',
  'Access-Control-Allow-Origin': 'https://evil.example',
  'X-Tag': 'kept',
};

describe('headers only tusport may set are dropped from hook answers', () => {
  let receiver: Receiver;
  let server: RunningTusport;
  const capture = capturingLogger('warn');

  beforeAll(async () => {
    receiver = await startReceiver();
    const hook = { type: 'http' as const, url: receiver.url, secret: HOOK_SECRET, retries: 0 };
    server = await startTusport(
      (dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, hooks: [{ ...hook, events: ['pre-create', 'pre-finish'] }] }] }),
      { logger: capture.logger },
    );
    receiver.answer = ({ json }) => {
      const mode = json.Event.Upload.MetaData.mode;
      if (json.Type === 'pre-create' && mode === 'reject') return { body: { RejectUpload: true, HTTPResponse: { StatusCode: 403, Body: 'no', Header: HOSTILE } } };
      if (mode === 'length') return { body: { HTTPResponse: { Header: { 'Content-Length': '1000' } } } };
      if (mode === 'hostile') return { body: { HTTPResponse: { Header: HOSTILE } } };
      return undefined;
    };
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
  });

  it('a pre-create answer with only Content-Length: 1000 gets its 201 to the client (it used to hang waiting for 1000 bytes)', { timeout: 15_000 }, async () => {
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ mode: 'length' }) } });
    expect(created.status).toBe(201);
    expect(created.headers['content-length'] ?? '0').toBe('0');
  });

  it('a pre-create answer with Content-Length and friends still gives a complete, well-formed 201; its own header stays', async () => {
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ mode: 'hostile' }) } });
    expect(created.status).toBe(201);
    expect(created.headers['x-tag']).toBe('kept');
    expect(created.headers.location).toMatch(new RegExp(`^${server.url}/files/[0-9a-f]{44}$`));
    expect(created.headers['tus-resumable']).toBe('1.0.0');
    expect(created.headers['upload-offset']).toBeUndefined();
    expect(created.headers['content-encoding']).toBeUndefined();
    expect(created.headers.upgrade).toBeUndefined();
    expect(created.headers['access-control-allow-origin']).not.toBe('https://evil.example');
    expect(created.headers['content-length'] ?? '0').toBe('0');
    // The upload works at the Location it got.
    const uploadPath = new URL(String(created.headers.location)).pathname;
    expect((await patch(server.url, uploadPath, 0, 'abc')).status).toBe(204);
    const warning = capture.lines.find((line) => line.msg === 'hook answered headers only tusport may set; dropped them' && line.uploadId === idOf(uploadPath));
    expect(warning?.event).toBe('pre-create');
    expect(warning?.headers).toEqual(Object.keys(HOSTILE).filter((name) => name !== 'X-Tag'));
  });

  it("a rejection keeps the hook's status, body and own headers, framed by tusport", async () => {
    const rejected = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ mode: 'reject' }) } });
    expect(rejected.status).toBe(403);
    expect(rejected.body).toBe('no');
    expect(rejected.headers['content-length']).toBe('2');
    expect(rejected.headers['x-tag']).toBe('kept');
    expect(rejected.headers.location).toBeUndefined();
  });

  it('a pre-finish answer cannot tell the client a wrong Upload-Offset', async () => {
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 3, 'Upload-Metadata': tusMetadata({ mode: 'hostile' }) });
    const finished = await patch(server.url, uploadPath, 0, 'abc');
    expect(finished.status).toBe(204);
    expect(finished.headers['upload-offset']).toBe('3');
    expect(finished.headers['x-tag']).toBe('kept');
    expect(finished.headers['content-length']).toBeUndefined();
  });
});
