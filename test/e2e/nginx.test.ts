import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processRunning, type RunningNginx, startNginx } from '../harness/nginx.js';
import { idOf, randomFile, sha256, sha256File } from '../helpers/files.js';
import { raw, type RawResponse, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import { tus, tusUpload } from '../helpers/tus-client.js';

/**
 * Debian's nginx running the shipped nginx/tusport.conf (addresses substituted, TLS block
 * uncommented with a self-signed certificate) in front of a real tusport that trusts 127.0.0.1.
 * nginx's client_max_body_size is 1m; /files allows 4 MiB chunks (so nginx's 413 is the one a
 * 2 MiB chunk gets), /small only 256 KiB (so tusport's own 413 comes through nginx).
 */
const KiB = 1024;
const MiB = 1024 * KiB;
const CHUNK = 256 * KiB;

describe('tusport behind nginx (nginx/tusport.conf)', () => {
  let server: RunningTusport;
  let nginx: RunningNginx;
  let scratch: Awaited<ReturnType<typeof tempDir>>;
  let https: string;
  let ca: string;

  beforeAll(async () => {
    scratch = await tempDir();
    server = await startTusport((dir) => ({
      server: { trustProxy: ['127.0.0.1'] },
      endpoints: [
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, maxChunkSize: 4 * MiB },
        { path: '/small', store: { type: 'disk', directory: path.join(dir, 'small') }, maxChunkSize: CHUNK },
      ],
    }));
    nginx = await startNginx({ upstreamPort: Number(new URL(server.url).port), clientMaxBodySize: '1m', tls: true });
    https = nginx.httpsUrl!;
    ca = nginx.ca!;
  });

  afterAll(async () => {
    const pid = nginx?.pid;
    await nginx?.stop();
    if (pid !== undefined) expect(processRunning(pid)).toBe(false);
    await server?.close();
    await scratch?.remove();
  });

  /** tus-js-client over https, trusting the test's self-signed certificate. */
  const overTls = () => ({ endpoint: `${https}/files`, httpStack: new tus.DefaultHttpStack({ ca }) });
  const stored = (uploadUrl: string, endpoint = 'files') => path.join(server.dir, endpoint, idOf(uploadUrl));
  const uploadPath = (uploadUrl: string) => new URL(uploadUrl).pathname;
  const viaNginx = (response: RawResponse) => expect(String(response.headers.server)).toMatch(/^nginx/);

  it('uploads a file in chunks over TLS: https URLs on nginx host:port, bytes identical on disk and downloaded back', async () => {
    const source = await randomFile(scratch.dir, 'chunked.bin', 6 * CHUNK + 13);
    const patches: number[] = [];
    const servers = new Set<string>();
    const { url } = await tusUpload(createReadStream(source.file), {
      ...overTls(),
      chunkSize: CHUNK,
      metadata: { filename: 'chunked.bin' },
      onAfterResponse: (request, response) => {
        servers.add(String(response.getHeader('Server')));
        if (request.getMethod() === 'PATCH') patches.push(response.getStatus());
      },
    });

    expect(url).toMatch(new RegExp(`^${https}/files/[0-9a-f]{44}$`));
    expect(patches).toEqual(Array(7).fill(204));
    expect([...servers].every((name) => name.startsWith('nginx'))).toBe(true);
    expect(await sha256File(stored(url))).toBe(source.sha);

    // The finished upload downloads back through nginx (proxy_buffering off), byte for byte.
    const download = await raw(https, { method: 'GET', path: uploadPath(url), ca });
    expect(download.status).toBe(200);
    viaNginx(download);
    expect(sha256(download.bytes)).toBe(source.sha);
  });

  it('Location carries the scheme and host:port the client used at nginx; forwarded headers the client forges are replaced', async () => {
    const forged = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Port': '8443' };
    const plain = await raw(nginx.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 5, ...forged } });
    expect(plain.status).toBe(201);
    viaNginx(plain);
    expect(String(plain.headers.location)).toMatch(new RegExp(`^${nginx.url}/files/[0-9a-f]{44}$`));

    const secure = await raw(https, {
      method: 'POST',
      path: '/files',
      ca,
      headers: { ...TUS, 'Upload-Length': 5, 'X-Forwarded-Proto': 'http', 'X-Forwarded-Host': 'evil.example' },
    });
    expect(secure.status).toBe(201);
    expect(String(secure.headers.location)).toMatch(new RegExp(`^${https}/files/[0-9a-f]{44}$`));

    // The Location is usable as given: PATCH and HEAD on it through nginx.
    const location = String(secure.headers.location);
    const patched = await raw(https, {
      method: 'PATCH',
      path: uploadPath(location),
      ca,
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
      body: 'hello',
    });
    expect(patched.status).toBe(204);
    expect(patched.headers['upload-offset']).toBe('5');
    const head = await raw(https, { method: 'HEAD', path: uploadPath(location), ca, headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('5');
    expect(head.headers['upload-length']).toBe('5');
  });

  it("a Forwarded header the client sends (nginx passes it through) does not move the Location", async () => {
    const forged = await raw(https, { method: 'POST', path: '/files', ca, headers: { ...TUS, 'Upload-Length': 5, Forwarded: 'for=203.0.113.7;proto=http;host=evil.example' } });
    expect(forged.status).toBe(201);
    viaNginx(forged);
    expect(String(forged.headers.location)).toMatch(new RegExp(`^${https}/files/[0-9a-f]{44}$`));
  });

  it('resumes through nginx: aborted after the first chunk, continued from the upload URL at offset > 0', async () => {
    const source = await randomFile(scratch.dir, 'resume.bin', 5 * CHUNK + 7);
    const first = await new Promise<string>((resolve, reject) => {
      const upload = new tus.Upload(createReadStream(source.file), {
        ...overTls(),
        chunkSize: CHUNK,
        retryDelays: [],
        onChunkComplete: () => {
          upload.abort().then(() => resolve(upload.url ?? ''), reject);
        },
        onError: reject,
        onSuccess: () => reject(new Error('the upload finished although it was aborted')),
      });
      upload.start();
    });
    expect(first).toMatch(new RegExp(`^${https}/files/[0-9a-f]{44}$`));
    expect((await stat(stored(first))).size).toBe(CHUNK);

    let resumedAt = -1;
    const { url } = await tusUpload(createReadStream(source.file), {
      ...overTls(),
      uploadUrl: first,
      chunkSize: CHUNK,
      onAfterResponse: (request, response) => {
        if (request.getMethod() === 'HEAD') resumedAt = Number(response.getHeader('Upload-Offset'));
      },
    });
    expect(url).toBe(first);
    expect(resumedAt).toBe(CHUNK);
    expect(await sha256File(stored(url))).toBe(source.sha);
  });

  it("a chunk above nginx's client_max_body_size gets nginx's 413, and tus-js-client reports it", async () => {
    const source = await randomFile(scratch.dir, 'too-big.bin', 2 * MiB + 5);
    let created = '';
    const error = await tusUpload(createReadStream(source.file), {
      ...overTls(),
      chunkSize: 2 * MiB,
      onAfterResponse: (request, response) => {
        if (request.getMethod() === 'POST' && response.getStatus() === 201) created = response.getHeader('Location') ?? '';
      },
    }).then(
      () => undefined,
      (e: unknown) => e as tus.DetailedError,
    );

    expect(error).toBeInstanceOf(tus.DetailedError);
    expect(error?.message).toContain('response code: 413');
    expect(error?.originalRequest?.getMethod()).toBe('PATCH');
    expect(error?.originalResponse?.getStatus()).toBe(413);
    // nginx's own page, not tusport's JSON error.
    const body = error?.originalResponse?.getBody() ?? '';
    expect(body).toContain('413 Request Entity Too Large');
    expect(body).not.toContain('TUSPORT_ERR');
    expect(await nginx.errorLog()).toContain('client intended to send too large body');
    // The upload exists and holds nothing: not a byte of the refused chunk reached tusport.
    expect(created).toMatch(/\/files\/[0-9a-f]{44}$/);
    const head = await raw(https, { method: 'HEAD', path: uploadPath(created), ca, headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('0');
  });

  it("below nginx's limit, tusport's own 413 (maxChunkSize) reaches the client through nginx", async () => {
    const source = await randomFile(scratch.dir, 'small-limit.bin', 2 * CHUNK);
    const error = await tusUpload(createReadStream(source.file), { ...overTls(), endpoint: `${https}/small`, chunkSize: 2 * CHUNK }).then(
      () => undefined,
      (e: unknown) => e as tus.DetailedError,
    );
    expect(error?.originalResponse?.getStatus()).toBe(413);
    expect(JSON.parse(error?.originalResponse?.getBody() ?? '{}')).toMatchObject({ code: 'TUSPORT_ERR_CHUNK_TOO_LARGE' });
  });

  it('request buffering is off: a PATCH body reaches tusport while the client is still sending it', async () => {
    const size = 1 * MiB;
    const data = (await randomFile(scratch.dir, 'slow.bin', size)).data;
    const created = await raw(nginx.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': size } });
    expect(created.status).toBe(201);
    const location = String(created.headers.location);

    const body = new PassThrough();
    const answer = raw(nginx.url, {
      method: 'PATCH',
      path: uploadPath(location),
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', 'Content-Length': size },
      body,
    });
    body.write(data.subarray(0, size / 2));
    // Half the body sent, the request still open: with buffering on, nginx would hold these bytes
    // until the last one arrived and tusport's file would stay empty.
    let seen = 0;
    for (let i = 0; i < 600 && seen < size / 2; i++) {
      await sleep(50);
      seen = (await stat(stored(location))).size;
    }
    expect(seen).toBe(size / 2);
    body.end(data.subarray(size / 2));

    const response = await answer;
    expect(response.status).toBe(204);
    expect(response.headers['upload-offset']).toBe(String(size));
    expect(await sha256File(stored(location))).toBe(sha256(data));
  });

  it("a long Upload-Metadata (within tusport's 8 KiB maxMetadataSize) passes nginx's header buffers", async () => {
    // Two values within maxMetadataValueSize (4 KiB), 8179 bytes in all: with the header name, a
    // line longer than nginx's default 8k header buffer.
    const b64 = (n: number) => Buffer.alloc(n, 'x').toString('base64');
    const metadata = `filename ${b64(3000)},note ${b64(3123)}`;
    expect(metadata.length).toBe(8179);
    const response = await raw(nginx.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 1, 'Upload-Metadata': metadata } });
    expect(response.status).toBe(201);
    viaNginx(response);
  });
});
