import net from 'node:net';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import { until } from '../helpers/wait.js';
import { listTree, randomFile, sha256 } from '../helpers/files.js';
import { curlForm, multipart, MULTIPART, type Part } from '../helpers/form.js';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Issue 15: classic multipart/form-data POSTs on a tus endpoint's collection URL. Each file part
 * is stored as one finished upload under the endpoint's auth, policy and store; every refusal is
 * a named 4xx and leaves nothing in the store (all or nothing per request).
 */

const ALICE = { Authorization: 'Bearer alice' };
const BOB = { Authorization: 'Bearer bob' };
/** A PNG's signature and header chunk: what file-type recognises as image/png. */
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
const servers: RunningTusport[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

type EndpointExtra = Record<string, unknown>;
interface HookRequestShape {
  Type: string;
  Event: { Upload: { MetaData: Record<string, string> } };
}

function formConfig(dir: string, extra: EndpointExtra = {}): TusportConfig {
  return {
    endpoints: [
      {
        path: '/files',
        store: { type: 'disk', directory: path.join(dir, 'files') },
        auth: { type: 'function', authorize: async (_request, _params, token) => (token === 'alice' || token === 'bob' ? { id: token } : null) },
        form: true,
        ...extra,
      },
    ],
  };
}

async function start(extra: EndpointExtra = {}): Promise<RunningTusport> {
  const server = await startTusport((dir) => formConfig(dir, extra));
  servers.push(server);
  return server;
}

const store = (server: RunningTusport) => listTree(path.join(server.dir, 'files'));

const post = (server: RunningTusport, body: Buffer, headers: Record<string, string> = {}) =>
  raw(server.url, { method: 'POST', path: '/files', headers: { ...ALICE, ...MULTIPART, ...headers }, body });

interface Answer {
  id: string;
  url: string;
  uploadURL: string;
  name: string;
  size: number;
  type: string;
  metadata: Record<string, string>;
  files: Omit<Answer, 'files'>[];
}

async function download(url: string, headers: Record<string, string> = ALICE): Promise<Buffer> {
  const response = await fetch(url, { headers });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('form uploads', () => {
  it('curl -F: each file is one finished upload, byte-identical, with the form fields as metadata and the caller as owner', async () => {
    const server = await start();
    const a = await randomFile(server.dir, 'photo.bin', 300_000);
    const b = await randomFile(server.dir, 'notes ü.txt', 10);
    const { status, body } = await curlForm(`${server.url}/files`, ['album=holidays', `file=@${a.file}`, `other=@${b.file};type=text/plain`], ALICE);
    expect(status, body).toBe(201);
    const answer = JSON.parse(body) as Answer;
    expect(answer.files.map((f) => [f.name, f.size, f.type])).toEqual([
      ['photo.bin', 300_000, 'application/octet-stream'],
      ['notes ü.txt', 10, 'text/plain'],
    ]);
    // The first file at the top level, for clients that send one file per request (Uppy XHRUpload).
    expect(answer.url).toBe(answer.files[0]?.url);
    expect(answer.uploadURL).toBe(answer.url);
    expect(answer.url).toBe(`${server.url}/files/${answer.id}`);
    expect(sha256(await download(answer.files[0]!.url))).toBe(a.sha);
    expect(sha256(await download(answer.files[1]!.url))).toBe(b.sha);
    // The sidecar: owner, metadata from the part and the fields before it, complete.
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'files', `${answer.files[1]!.id}.json`), 'utf8'));
    expect(sidecar.metadata).toEqual({ album: 'holidays', filename: 'notes ü.txt', filetype: 'text/plain' });
    expect(sidecar.tusport.owner).toBe('alice');
    expect(sidecar.tusport.completion).toBe('notified');
    expect(sidecar.size).toBe(10);
    // Bob cannot see alice's files.
    expect((await fetch(answer.url, { headers: BOB })).status).toBe(404);
  });

  it('Node fetch with FormData; a tus creation on the same URL is unchanged', async () => {
    const server = await start();
    const data = Buffer.from('hello from fetch');
    const form = new FormData();
    form.append('title', 'greeting');
    form.append('file', new Blob([data], { type: 'text/plain' }), 'hello.txt');
    const response = await fetch(`${server.url}/files`, { method: 'POST', body: form, headers: ALICE });
    expect(response.status).toBe(201);
    const answer = (await response.json()) as Answer;
    expect(answer).toMatchObject({ name: 'hello.txt', size: data.length, type: 'text/plain', metadata: { title: 'greeting' } });
    expect((await download(answer.url)).equals(data)).toBe(true);

    const tus = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, ...ALICE, 'Upload-Length': '5' } });
    expect(tus.status).toBe(201);
    expect(tus.headers.location).toMatch(new RegExp(`^${server.url}/files/[0-9a-f]{44}$`));
    // Without Tus-Resumable a POST that is not a form is still a tus request, refused as before.
    const bare = await raw(server.url, { method: 'POST', path: '/files', headers: { ...ALICE, 'Upload-Length': '5' } });
    expect(bare.status).toBe(412);
  });

  it('an endpoint without `form` does not take forms (tus answers as before), and stores nothing', async () => {
    const server = await start({ form: false });
    const response = await post(server, multipart([{ name: 'file', filename: 'a.txt', body: 'abc' }]));
    expect(response.status).toBe(412);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_TUS_RESUMABLE');
    expect(await store(server)).toEqual([]);
  });

  it('an empty file input (no filename, no bytes) is ignored; a form with nothing else has no file (400)', async () => {
    const server = await start();
    const empty: Part = { name: 'file', type: 'application/octet-stream', body: '' };
    const none = await post(server, multipart([empty]));
    expect(none.status).toBe(400);
    expect(errorOf(none)).toMatchObject({ code: 'TUSPORT_ERR_FORM_NO_FILES' });
    const one = await post(server, multipart([empty, { name: 'file2', filename: 'b.txt', body: 'b' }]));
    expect(one.status, one.body).toBe(201);
    expect((JSON.parse(one.body) as Answer).files).toHaveLength(1);
  });
});

describe('form limits and bad input: status, named code, nothing stored', () => {
  const cases: Array<{ what: string; extra?: EndpointExtra; body: () => Buffer; headers?: Record<string, string>; status: number; code: string; message: RegExp }> = [
    {
      what: 'a file past maxSize (the first file is fine: all or nothing)',
      extra: { maxSize: 1000 },
      body: () => multipart([{ name: 'a', filename: 'ok.bin', body: Buffer.alloc(500, 1) }, { name: 'b', filename: 'big.bin', body: Buffer.alloc(5000, 2) }]),
      status: 413,
      code: 'TUSPORT_ERR_FORM_FILE_TOO_LARGE',
      message: /"big\.bin" is larger than this endpoint's maxSize of 1000 bytes/,
    },
    {
      what: 'more files than maxFiles',
      extra: { form: { maxFiles: 2 } },
      body: () => multipart(['a', 'b', 'c'].map((name) => ({ name, filename: `${name}.txt`, body: name }))),
      status: 413,
      code: 'TUSPORT_ERR_FORM_TOO_MANY_FILES',
      message: /more than 2 files/,
    },
    {
      what: 'more fields than maxFields',
      extra: { form: { maxFields: 1 } },
      body: () => multipart([{ name: 'x', body: '1' }, { name: 'y', body: '2' }, { name: 'file', filename: 'a.txt', body: 'a' }]),
      status: 413,
      code: 'TUSPORT_ERR_FORM_TOO_MANY_FIELDS',
      message: /more than 1 non-file fields/,
    },
    {
      what: 'a field longer than maxFieldSize',
      extra: { form: { maxFieldSize: 10 } },
      body: () => multipart([{ name: 'note', body: 'x'.repeat(11) }, { name: 'file', filename: 'a.txt', body: 'a' }]),
      status: 413,
      code: 'TUSPORT_ERR_FORM_FIELD_TOO_LARGE',
      message: /Field "note" is longer than 10 bytes/,
    },
    {
      what: 'a file in a field that may not carry one',
      extra: { form: { fileFields: ['file'] } },
      body: () => multipart([{ name: 'file', filename: 'a.txt', body: 'a' }, { name: 'attachment', filename: 'b.txt', body: 'b' }]),
      status: 400,
      code: 'TUSPORT_ERR_FORM_FILE_FIELD',
      message: /Field "attachment" may not carry a file here; file fields: file/,
    },
    {
      what: 'a file part with bytes but no filename',
      body: () => multipart([{ name: 'file', type: 'application/octet-stream', body: 'data' }]),
      status: 400,
      code: 'TUSPORT_ERR_FORM_MISSING_FILENAME',
      message: /field "file" has no filename/,
    },
    {
      what: 'a file field sent without a filename (as a plain field)',
      extra: { form: { fileFields: ['file'] } },
      body: () => multipart([{ name: 'file', body: 'data' }]),
      status: 400,
      code: 'TUSPORT_ERR_FORM_MISSING_FILENAME',
      message: /field "file" has no filename/,
    },
    {
      what: 'no boundary in the Content-Type',
      body: () => multipart([{ name: 'file', filename: 'a.txt', body: 'a' }]),
      headers: { 'Content-Type': 'multipart/form-data' },
      status: 400,
      code: 'TUSPORT_ERR_FORM_MALFORMED',
      message: /Boundary not found/,
    },
    {
      what: 'a boundary that is not the one in the body',
      body: () => multipart([{ name: 'file', filename: 'a.txt', body: 'a' }]),
      headers: { 'Content-Type': 'multipart/form-data; boundary=somethingelse' },
      status: 400,
      code: 'TUSPORT_ERR_FORM_MALFORMED',
      message: /Unexpected end of form/,
    },
    {
      what: 'a body cut off in the middle of a file',
      body: () => multipart([{ name: 'a', filename: 'a.txt', body: 'complete' }, { name: 'b', filename: 'b.bin', body: Buffer.alloc(70_000, 3) }], { end: false }).subarray(0, -100),
      status: 400,
      code: 'TUSPORT_ERR_FORM_MALFORMED',
      message: /Unexpected end of/,
    },
    {
      what: 'a malformed part header',
      body: () => Buffer.from(`--${'tusportformboundary7MA4YWxkTrZu0gW'}\r\nContent-Disposition form-data\r\n${'x'.repeat(20_000)}`),
      status: 400,
      code: 'TUSPORT_ERR_FORM_MALFORMED',
      message: /malformed/,
    },
    {
      what: 'a declared type the endpoint does not accept',
      extra: { policy: { accept: ['image/*'] } },
      body: () => multipart([{ name: 'file', filename: 'a.txt', type: 'text/plain', body: 'a' }]),
      status: 415,
      code: 'TUSPORT_ERR_TYPE_NOT_ACCEPTED',
      message: /File type not accepted here/,
    },
    {
      what: 'bytes that are not what the accept list allows (sniffed: an ELF binary called .png)',
      extra: { policy: { accept: ['image/*'] } },
      body: () => multipart([{ name: 'file', filename: 'cat.png', type: 'image/png', body: Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(100)]) }]),
      status: 415,
      code: 'TUSPORT_ERR_CONTENT_NOT_ACCEPTED',
      message: /application\/x-elf/,
    },
    {
      what: 'a form past the owner\'s maxBytesInFlight',
      extra: { policy: { quota: { maxBytesInFlight: 1000 } } },
      body: () => multipart([{ name: 'a', filename: 'a.bin', body: Buffer.alloc(600, 1) }, { name: 'b', filename: 'b.bin', body: Buffer.alloc(600, 2) }]),
      status: 413,
      code: 'TUSPORT_ERR_QUOTA_BYTES',
      message: /Quota reached/,
    },
    {
      what: 'more files than the owner\'s maxUnfinishedUploads (each file counts as unfinished until the form completes)',
      extra: { policy: { quota: { maxUnfinishedUploads: 1 } } },
      body: () => multipart([{ name: 'a', filename: 'a.txt', body: 'a' }, { name: 'b', filename: 'b.txt', body: 'b' }]),
      status: 429,
      code: 'TUSPORT_ERR_QUOTA_UPLOADS',
      message: /at most 1 unfinished uploads/,
    },
    {
      what: 'a request body over maxChunkSize (refused before reading)',
      extra: { maxChunkSize: 400 },
      body: () => multipart([{ name: 'file', filename: 'a.bin', body: Buffer.alloc(500, 1) }]),
      status: 413,
      code: 'TUSPORT_ERR_CHUNK_TOO_LARGE',
      message: /maxChunkSize of 400 bytes/,
    },
    {
      what: 'required metadata missing',
      extra: { policy: { requiredMetadata: ['album'] } },
      body: () => multipart([{ name: 'file', filename: 'a.txt', body: 'a' }]),
      status: 400,
      code: 'TUSPORT_ERR_METADATA_REQUIRED',
      message: /must include "album"/,
    },
  ];

  for (const { what, extra, body, headers, status, code, message } of cases) {
    it(what, async () => {
      const server = await start(extra);
      const response = await post(server, body(), headers);
      expect(response.status, response.body).toBe(status);
      expect(errorOf(response).code).toBe(code);
      expect(errorOf(response).message).toMatch(message);
      expect(await store(server)).toEqual([]);
      // Nothing counted against the owner either: the same user can upload at once.
      const after = await post(server, multipart([{ name: 'album', body: 'x' }, { name: 'file', filename: 'f.png', type: 'image/png', body: PNG }]));
      expect(after.status, after.body).toBe(201);
    });
  }

  it('a file past maxSize is answered 413 as soon as it is passed, while the client is still sending, and its partial file is removed', async () => {
    const server = await start({ maxSize: 1024 * 1024 });
    const head = multipart([{ name: 'file', filename: 'huge.bin', body: Buffer.alloc(0) }], { end: false });
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
    // The server may close the connection after its answer while we still write: not an error here.
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    // The form declares 1 GiB; only 2 MiB of it are ever sent, and the socket stays open.
    socket.write(`POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nContent-Type: ${MULTIPART['Content-Type']}\r\nContent-Length: ${2 ** 30}\r\n\r\n`);
    socket.write(head.subarray(0, head.length - 2));
    try {
      socket.write(Buffer.alloc(2 * 1024 * 1024, 9));
      await until(() => answer.includes('\r\n\r\n{') && answer.trimEnd().endsWith('}'), 'the 413 before the body is complete');
      expect(answer).toMatch(/^HTTP\/1\.1 413 /);
      const error = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: string; message: string };
      expect(error.code).toBe('TUSPORT_ERR_FORM_FILE_TOO_LARGE');
      expect(error.message).toMatch(/"huge\.bin" is larger than this endpoint's maxSize of 1048576 bytes/);
      await until(async () => (await store(server)).length === 0, 'the partial file to be removed');
    } finally {
      socket.destroy();
    }
  });

  it('a client that disconnects mid-file leaves nothing behind', async () => {
    const server = await start();
    const head = multipart([{ name: 'a', filename: 'done.txt', body: 'first file complete' }, { name: 'b', filename: 'cut.bin', body: Buffer.alloc(0) }], { end: false });
    // Headers, a finished first file, then the second file's start; the socket is then destroyed.
    const partial = Buffer.concat([head.subarray(0, head.length - 2), Buffer.alloc(256 * 1024, 7)]);
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(
      `POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nContent-Type: ${MULTIPART['Content-Type']}\r\nContent-Length: ${partial.length + 10_000_000}\r\n\r\n`,
    );
    socket.write(partial);
    // The second file has begun arriving in the store: its data file exists and has bytes.
    await until(async () => (await store(server)).length >= 4, 'both files to be in the store');
    socket.destroy();
    await until(async () => (await store(server)).length === 0, 'the store to be empty again');
  });
});

describe('form uploads and hooks', () => {
  it('a pre-finish hook refusing the second file removes the first one too, with post-terminate after its post-finish', async () => {
    const events: string[] = [];
    const record = async (request: HookRequestShape) => {
      const name = request.Event.Upload.MetaData.filename;
      events.push(`${request.Type}:${name}`);
      return request.Type === 'pre-finish' && name === 'no.txt' ? { RejectUpload: true } : {};
    };
    const server = await start({
      hooks: [{ type: 'function', handlers: Object.fromEntries(['pre-finish', 'post-create', 'post-finish', 'post-terminate'].map((event) => [event, record])) }],
    });
    const response = await post(server, multipart([{ name: 'a', filename: 'yes.txt', body: 'y' }, { name: 'b', filename: 'no.txt', body: 'n' }]));
    expect(response.status, response.body).toBe(400);
    expect(errorOf(response).code).toMatch(/^TUSPORT_ERR_HOOK_/);
    expect(await store(server)).toEqual([]);
    await until(() => events.includes('post-terminate:yes.txt'), 'post-terminate of the first file');
    expect(events.indexOf('post-finish:yes.txt')).toBeLessThan(events.indexOf('post-terminate:yes.txt'));
    expect(events).not.toContain('post-finish:no.txt');
  });
});

