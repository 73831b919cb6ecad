import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FinishedUpload } from '../../src/index.js';
import { idOf, randomFile, sha256, sha256File } from '../helpers/files.js';
import { headOffset, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import { tus, tusUpload } from '../helpers/tus-client.js';

describe('tus uploads with tus-js-client against a listening tusport', () => {
  let server: RunningTusport;
  const done: FinishedUpload[] = [];
  let scratch: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    scratch = await tempDir();
    server = await startTusport((dir) => ({
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          onUploadDone: (upload) => {
            done.push(upload);
          },
        },
      ],
    }));
  });
  afterAll(async () => {
    await server.close();
    await scratch.remove();
  });

  const storedFile = (url: string) => path.join(server.dir, 'files', idOf(url));

  it('uploads a Buffer in one request and stores data + sidecar', async () => {
    const data = Buffer.from('hello tusport');
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, metadata: { filename: 'hello.txt', filetype: 'text/plain' } });
    expect(url).toMatch(new RegExp(`^${server.url}/files/[0-9a-f]{44}$`));
    expect(await readFile(storedFile(url))).toEqual(data);
    const sidecar = JSON.parse(await readFile(`${storedFile(url)}.json`, 'utf8'));
    expect(sidecar).toMatchObject({
      size: data.length,
      metadata: { filename: 'hello.txt', filetype: 'text/plain' },
      tusport: { version: 1, endpoint: '/files', params: {}, owner: null },
    });
    expect(typeof sidecar.tusport.completed_at).toBe('string');
    const finished = done.filter((u) => url.endsWith(u.id));
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ size: data.length, endpoint: '/files', params: {}, path: storedFile(url), metadata: { filename: 'hello.txt' } });
  });

  it.each([1, 1000, 64 * 1024, 1024 * 1024 + 7])('uploads a file from fs.createReadStream in chunks of %i bytes, sha256-identical', async (chunkSize) => {
    const size = chunkSize === 1 ? 500 : chunkSize === 1000 ? 200_000 : 3 * 1024 * 1024 + 13;
    const source = await randomFile(scratch.dir, `src-${chunkSize}`, size);
    const { url } = await tusUpload(createReadStream(source.file), {
      endpoint: `${server.url}/files`,
      chunkSize,
      uploadSize: size,
    });
    expect(await sha256File(storedFile(url))).toBe(source.sha);
    expect(await headOffset(server.url, new URL(url).pathname)).toBe(size);
  });

  it('resumes after an abort from the offset the server reports, byte-identical', async () => {
    const size = 4 * 1024 * 1024;
    const source = await randomFile(scratch.dir, 'resume', size);
    let uploadUrl = '';
    // First attempt: stop after the first chunk has been acknowledged.
    await new Promise<void>((resolve, reject) => {
      const upload = new tus.Upload(source.data, {
        endpoint: `${server.url}/files`,
        chunkSize: 1024 * 1024,
        retryDelays: [],
        onError: reject,
        onChunkComplete: (_chunk, accepted) => {
          if (accepted >= 1024 * 1024 && upload.url) {
            uploadUrl = upload.url;
            upload.abort().then(() => resolve(), reject);
          }
        },
      });
      upload.start();
    });
    const offset = await headOffset(server.url, new URL(uploadUrl).pathname);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(size);
    // A new client, told only the URL, continues from the server's offset.
    let resumedFrom = -1;
    await tusUpload(source.data, {
      uploadUrl,
      chunkSize: 1024 * 1024,
      onProgress: (sent) => {
        if (resumedFrom < 0) resumedFrom = sent;
      },
    });
    expect(resumedFrom).toBeGreaterThanOrEqual(offset);
    expect(await sha256File(storedFile(uploadUrl))).toBe(source.sha);
    expect(done.filter((u) => uploadUrl.endsWith(u.id))).toHaveLength(1);
  });

  it('creation-with-upload stores the body sent with the POST', async () => {
    const data = Buffer.from('sent along with the creation request');
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, uploadDataDuringCreation: true });
    expect(await readFile(storedFile(url))).toEqual(data);
    expect(done.filter((u) => url.endsWith(u.id))).toHaveLength(1);
  });

  it('deferred length: the size is declared with the last PATCH', async () => {
    // A generic stream of unknown length (tus-js-client's fs.ReadStream source announces a
    // Content-Length it cannot fill for the last chunk of a deferred upload, so that one hangs).
    const data = randomBytes(250_000);
    const { url } = await tusUpload(Readable.from([data.subarray(0, 120_000), data.subarray(120_000)]), {
      endpoint: `${server.url}/files`,
      uploadLengthDeferred: true,
      chunkSize: 100_000,
    });
    expect(sha256(await readFile(storedFile(url)))).toBe(sha256(data));
    const head = await raw(server.url, { method: 'HEAD', path: new URL(url).pathname, headers: TUS });
    expect(head.headers['upload-length']).toBe(String(data.length));
    expect(head.headers['upload-defer-length']).toBeUndefined();
  });

  it('a zero-byte upload finishes at creation and fires onUploadDone once', async () => {
    const { url } = await tusUpload(Buffer.alloc(0), { endpoint: `${server.url}/files` });
    expect((await stat(storedFile(url))).size).toBe(0);
    expect(done.filter((u) => url.endsWith(u.id))).toHaveLength(1);
  });

  it('termination deletes data and sidecar; the URL is then 404', async () => {
    const { url } = await tusUpload(Buffer.from('to be deleted'), { endpoint: `${server.url}/files` });
    const before = await readdir(path.join(server.dir, 'files'));
    await tus.Upload.terminate(url, {});
    const after = await readdir(path.join(server.dir, 'files'));
    const id = idOf(url);
    expect(before).toContain(id);
    expect(after).not.toContain(id);
    expect(after).not.toContain(`${id}.json`);
    const head = await raw(server.url, { method: 'HEAD', path: new URL(url).pathname, headers: TUS });
    expect(head.status).toBe(404);
  });

  it('HEAD after completion reports the full offset, length and metadata; GET downloads it', async () => {
    const data = Buffer.from('complete file');
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, metadata: { filename: 'naïve résumé.txt', filetype: 'text/plain' } });
    const uploadPath = new URL(url).pathname;
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe(String(data.length));
    expect(head.headers['upload-length']).toBe(String(data.length));
    expect(head.headers['cache-control']).toBe('no-store');
    expect(head.headers['tus-resumable']).toBe('1.0.0');
    expect(head.headers['upload-metadata']).toContain('filename ');
    const get = await raw(server.url, { method: 'GET', path: uploadPath });
    expect(get.status).toBe(200);
    expect(sha256(Buffer.from(get.body))).toBe(sha256(data));
    expect(get.headers['content-type']).toBe('text/plain');
    expect(get.headers['content-disposition']).toBe(`inline; filename="na_ve r_sum_.txt"; filename*=UTF-8''na%C3%AFve%20r%C3%A9sum%C3%A9.txt`);
  });
});
