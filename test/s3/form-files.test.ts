import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListedUpload } from '../../src/files/list.js';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { curlForm, multipart, MULTIPART } from '../helpers/form.js';
import { errorOf, raw } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { ceph, MiB, PART, s3Store, sha256 } from './lib.js';

/** Issue 15 on S3 (Ceph RGW): form uploads streamed into multipart parts, and the files API listing. */

const info = ceph();
const servers: RunningTusport[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

const auth = (who: string) => ({ Authorization: `Bearer ${who}` });

async function start(bucket: string, extra: Record<string, unknown> = {}): Promise<RunningTusport> {
  const server = await startTusport({
    endpoints: [
      {
        path: '/files',
        store: s3Store(info, bucket),
        auth: { type: 'function', authorize: async (_request, _params, token) => (token ? { id: token } : null) },
        form: true,
        ...extra,
      },
    ],
  });
  servers.push(server);
  return server;
}

/** Nothing in the bucket: no object, no open multipart upload. */
async function bucketEmpty(bucket: string): Promise<boolean> {
  return (await listAllKeys(info, bucket)).length === 0 && (await listMultipartUploads(info, bucket)).length === 0;
}

describe('form uploads on S3', () => {
  it('a file larger than a part and a small one: byte-identical, only the data object and its .info left', async () => {
    const bucket = await createTestBucket(info, 'form');
    const server = await start(bucket);
    const big = randomBytes(2 * PART + 12345);
    const small = Buffer.from('small file');
    const form = new FormData();
    form.append('note', 'on s3');
    form.append('file', new Blob([big], { type: 'application/octet-stream' }), 'big.bin');
    form.append('file', new Blob([small], { type: 'text/plain' }), 'small.txt');
    const response = await fetch(`${server.url}/files`, { method: 'POST', body: form, headers: auth('alice') });
    expect(response.status).toBe(201);
    const answer = (await response.json()) as { files: { id: string; url: string; size: number }[] };
    expect(answer.files.map((f) => f.size)).toEqual([big.length, small.length]);
    for (const [file, data] of [
      [answer.files[0]!, big],
      [answer.files[1]!, small],
    ] as const) {
      const download = await fetch(file.url, { headers: auth('alice') });
      expect(download.status).toBe(200);
      expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(sha256(data));
    }
    const ids = answer.files.map((f) => f.id);
    expect((await listAllKeys(info, bucket)).sort()).toEqual(ids.flatMap((id) => [id, `${id}.info`]).sort());
    expect(await listMultipartUploads(info, bucket)).toEqual([]);
  });

  it('curl -F: a file of several parts with a form field, byte-identical, owned by the caller, no multipart upload left open', async () => {
    const bucket = await createTestBucket(info, 'form-curl');
    const server = await start(bucket);
    const data = randomBytes(PART + 4321);
    const file = path.join(server.dir, 'photo.bin');
    await writeFile(file, data);
    const { status, body } = await curlForm(`${server.url}/files`, ['album=holidays', `file=@${file}`], auth('alice'));
    expect(status, body).toBe(201);
    const answer = JSON.parse(body) as { id: string; url: string; size: number; metadata: Record<string, string> };
    expect(answer).toMatchObject({ size: data.length, metadata: { album: 'holidays', filename: 'photo.bin' } });
    const download = await fetch(answer.url, { headers: auth('alice') });
    expect(download.status).toBe(200);
    expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(sha256(data));
    expect((await fetch(answer.url, { headers: auth('bob') })).status).toBe(404);
    expect((await listAllKeys(info, bucket)).sort()).toEqual([answer.id, `${answer.id}.info`]);
    expect(await listMultipartUploads(info, bucket)).toEqual([]);
  });

  it('a file past maxSize: 413, nothing in the bucket (the first file of the form removed too)', async () => {
    const bucket = await createTestBucket(info, 'form-max');
    const server = await start(bucket, { maxSize: 6 * MiB });
    const body = multipart([
      { name: 'a', filename: 'ok.txt', body: 'fine' },
      { name: 'b', filename: 'big.bin', body: randomBytes(8 * MiB) },
    ]);
    const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...auth('alice'), ...MULTIPART }, body });
    expect(response.status).toBe(413);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_FORM_FILE_TOO_LARGE');
    await until(() => bucketEmpty(bucket), 'the bucket to be empty');
  });

  it('sniffed bytes the accept list refuses: 415, nothing in the bucket', async () => {
    const bucket = await createTestBucket(info, 'form-accept');
    const server = await start(bucket, { policy: { accept: ['image/*'] } });
    const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(1000)]);
    const body = multipart([{ name: 'file', filename: 'x.png', type: 'image/png', body: elf }]);
    const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...auth('alice'), ...MULTIPART }, body });
    expect(response.status).toBe(415);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_CONTENT_NOT_ACCEPTED');
    expect(await bucketEmpty(bucket)).toBe(true);
  });

  it('a client that disconnects mid-file leaves nothing in the bucket', async () => {
    const bucket = await createTestBucket(info, 'form-cut');
    const server = await start(bucket);
    const head = multipart([{ name: 'b', filename: 'cut.bin', body: Buffer.alloc(0) }], { end: false });
    const socket = net.connect(Number(new URL(server.url).port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`POST /files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\nContent-Type: ${MULTIPART['Content-Type']}\r\nContent-Length: ${100 * MiB}\r\n\r\n`);
    socket.write(head.subarray(0, head.length - 2));
    // More than a part, so a part has been uploaded to the multipart upload before the cut.
    for (let i = 0; i < 7; i++) socket.write(randomBytes(MiB));
    await until(async () => (await listMultipartUploads(info, bucket)).length === 1, 'the multipart upload to exist');
    socket.destroy();
    await until(() => bucketEmpty(bucket), 'the bucket to be empty again', 30_000);
  });
});

describe('files API on S3', () => {
  it('lists the caller\'s uploads newest first, a page at a time; never another user\'s', async () => {
    const bucket = await createTestBucket(info, 'list');
    const server = await start(bucket);
    const post = async (who: string, name: string) => {
      const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...auth(who), ...MULTIPART }, body: multipart([{ name: 'file', filename: name, body: name }]) });
      expect(response.status, response.body).toBe(201);
      return (JSON.parse(response.body) as { id: string }).id;
    };
    const alice: string[] = [];
    for (let i = 0; i < 5; i++) alice.push(await post('alice', `a${i}.txt`));
    const bob = await post('bob', 'b.txt');
    const seen: ListedUpload[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const response = await raw(server.url, { method: 'GET', path: `/files?limit=2${cursor ? `&cursor=${cursor}` : ''}`, headers: auth('alice') });
      expect(response.status).toBe(200);
      const page = JSON.parse(response.body) as { uploads: ListedUpload[]; next: string | null };
      sizes.push(page.uploads.length);
      seen.push(...page.uploads);
      cursor = page.next;
    } while (cursor);
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen.map((u) => u.id).sort()).toEqual([...alice].sort());
    expect(seen.map((u) => u.id)).not.toContain(bob);
    const created = seen.map((u) => Date.parse(u.createdAt));
    expect(created).toEqual([...created].sort((x, y) => y - x));
    expect(seen.every((u) => u.complete && u.offset === u.size)).toBe(true);
  });
});
