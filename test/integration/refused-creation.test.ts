import net from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { until } from '../helpers/cli.js';
import { listTree } from '../helpers/files.js';
import { raw, TUS } from '../helpers/http.js';
import { startTusport, tempDir } from '../helpers/server.js';

/**
 * Issue 11, finding 5: a creation that is refused leaves nothing behind. Its client learns the
 * upload's URL only from a 201, so an upload kept after any other answer can never be resumed;
 * it held a quota slot, and once quotas were rebuilt from the store after a restart, a few of
 * them locked the user out (429) for good when no `expire` was set.
 */

const OCTET = 'application/offset+octet-stream';
const ALICE = { Authorization: 'Bearer alice-token-0123456789' };
const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const task of cleanup.splice(0).reverse()) await task();
});

const config = (dir: string, extra: Record<string, unknown> = {}) => ({
  endpoints: [
    {
      path: '/files',
      store: { type: 'disk' as const, directory: path.join(dir, 'files') },
      auth: { type: 'bearer' as const, tokens: [{ id: 'alice', token: 'alice-token-0123456789' }] },
      policy: { quota: { maxUnfinishedUploads: 2 } },
      ...extra,
    },
  ],
});

const create = (url: string, length: number, body?: Buffer | Readable, headers: Record<string, string> = {}) =>
  raw(url, {
    method: 'POST',
    path: '/files',
    headers: { ...TUS, ...ALICE, 'Upload-Length': String(length), ...(body ? { 'Content-Type': OCTET } : {}), ...headers },
    ...(body ? { body } : {}),
  });

describe('a refused creation leaves nothing behind', () => {
  it('bodies longer than Upload-Length: 413, no file, and after a restart the quota is still free', async () => {
    const scratch = await tempDir();
    cleanup.push(() => scratch.remove());
    const first = await startTusport((dir) => config(dir), { dir: scratch.dir });
    for (const body of [Buffer.alloc(20, 1), Readable.from([Buffer.alloc(8, 1), Buffer.alloc(8, 2)])]) {
      for (let attempt = 0; attempt < 2; attempt++) {
        const response = await create(first.url, 10, body instanceof Buffer ? body : Readable.from([Buffer.alloc(8, 1), Buffer.alloc(8, 2)]));
        expect(response.status, response.body).toBe(413);
        expect(response.headers.location).toBeUndefined();
        expect(await listTree(scratch.dir)).toEqual([]);
      }
    }
    await first.app.close();
    // Quotas are rebuilt from the store on first use after a restart: both slots are free.
    const second = await startTusport((dir) => config(dir), { dir: scratch.dir });
    cleanup.push(() => second.app.close());
    for (let n = 0; n < 2; n++) expect((await create(second.url, 10)).status).toBe(201);
    const third = await create(second.url, 10);
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS' });
  });

  it('a final path taken at creation with upload: 409, the upload removed, onUploadDone not run', async () => {
    const done: string[] = [];
    const server = await startTusport((dir) =>
      config(dir, { finalize: { path: '{yyyy}/{filename}', overwrite: false }, onUploadDone: async (upload: { id: string }) => void done.push(upload.id) }),
    );
    cleanup.push(() => server.close());
    const metadata = { 'Upload-Metadata': `filename ${Buffer.from('report.txt').toString('base64')}` };
    expect((await create(server.url, 5, Buffer.from('first'), metadata)).status).toBe(201);
    const before = await listTree(server.dir);
    const clash = await create(server.url, 6, Buffer.from('second'), metadata);
    expect(clash.status, clash.body).toBe(409);
    expect(clash.headers.location).toBeUndefined();
    expect(clash.body).toMatch(/already taken/);
    expect(await listTree(server.dir)).toEqual(before);
    expect(done).toHaveLength(1);
  });

  it('a client that disconnects during creation with upload leaves no upload (it never got the Location)', async () => {
    const server = await startTusport((dir) => config(dir));
    cleanup.push(() => server.close());
    const { port } = new URL(server.url);
    const socket = net.connect(Number(port), '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const head = [
      'POST /files HTTP/1.1',
      'Host: 127.0.0.1',
      'Tus-Resumable: 1.0.0',
      `Authorization: ${ALICE.Authorization}`,
      'Upload-Length: 100000',
      'Content-Length: 100000',
      `Content-Type: ${OCTET}`,
      '',
      '',
    ].join('\r\n');
    socket.write(head);
    socket.write(Buffer.alloc(5000, 7));
    // The upload exists once its sidecar does; then the client goes away mid-body.
    await until(async () => (await listTree(server.dir)).some((file) => file.endsWith('.json')), 'the upload to be created');
    socket.destroy();
    await until(async () => (await listTree(server.dir)).length === 0, 'the abandoned upload to be removed', 5_000);
    // And its quota slot is free again: two creations fit.
    for (let n = 0; n < 2; n++) expect((await create(server.url, 10)).status).toBe(201);
  });
});
