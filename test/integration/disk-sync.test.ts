import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import { run } from '../helpers/cli.js';
import { createUpload, raw, TUS } from '../helpers/http.js';
import { scrape } from '../helpers/metrics.js';
import { startTusport, tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

// The disk store's `sync` setting, observed from outside: every fsync of upload bytes is a
// `fsync` store operation in the metrics (scraped over HTTP), and the stored bytes are compared
// with what the client sent.

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function server(sync: 'request' | 'none' | undefined) {
  const store = { type: 'disk' as const, directory: '', ...(sync ? { sync } : {}) };
  const running = await startTusport((dir) => ({
    endpoints: [{ path: '/files', store: { ...store, directory: path.join(dir, 'files') } }],
    metrics: { enabled: true, port: 0 },
  }) satisfies TusportConfig);
  cleanup.push(() => running.close());
  const metricsUrl = running.app.tusport.metrics?.url;
  if (!metricsUrl) throw new Error('no metrics listener');
  const fsyncs = async () => (await scrape(metricsUrl)).value('tusport_store_operation_duration_seconds_count', { store: 'disk', operation: 'fsync', outcome: 'ok' });
  return { ...running, fsyncs, files: path.join(running.dir, 'files') };
}

/** An upload of 5 chunks by tus-js-client; returns the bytes the store holds for it. */
async function uploadInChunks(url: string, files: string, data: Buffer): Promise<Buffer> {
  const { url: location } = await tusUpload(data, { endpoint: `${url}/files`, chunkSize: 64 * 1024 });
  const id = location.split('/').pop()!;
  expect(await readdir(files)).toContain(id);
  return readFile(path.join(files, id));
}

describe('disk store sync', () => {
  it('by default every PATCH is fsynced: one fsync per chunk, bytes identical', async () => {
    const tusport = await server(undefined);
    const data = randomBytes(5 * 64 * 1024);
    const before = await tusport.fsyncs();
    const stored = await uploadInChunks(tusport.url, tusport.files, data);
    expect(sha256(stored)).toBe(sha256(data));
    expect((await tusport.fsyncs()) - before).toBe(5);
  });

  it("sync: 'request' is the default's behaviour, said out loud", async () => {
    const tusport = await server('request');
    const upload = await createUpload(tusport.url, '/files', { 'Upload-Length': 3 });
    const before = await tusport.fsyncs();
    const patch = await raw(tusport.url, { method: 'PATCH', path: upload, headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: 'abc' });
    expect(patch.status).toBe(204);
    expect((await tusport.fsyncs()) - before).toBe(1);
  });

  it("sync: 'none' fsyncs no upload bytes and still stores them byte-identical, offsets and resumption as before", async () => {
    const tusport = await server('none');
    const data = randomBytes(5 * 64 * 1024 + 17);
    const stored = await uploadInChunks(tusport.url, tusport.files, data);
    expect(sha256(stored)).toBe(sha256(data));

    // A resumed upload: HEAD reports what the 204s acknowledged, the rest follows from there.
    const upload = await createUpload(tusport.url, '/files', { 'Upload-Length': 10 });
    const first = await raw(tusport.url, { method: 'PATCH', path: upload, headers: { ...TUS, 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' }, body: '01234' });
    expect(first.status).toBe(204);
    expect(first.headers['upload-offset']).toBe('5');
    const head = await raw(tusport.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(head.headers['upload-offset']).toBe('5');
    const second = await raw(tusport.url, { method: 'PATCH', path: upload, headers: { ...TUS, 'Upload-Offset': '5', 'Content-Type': 'application/offset+octet-stream' }, body: '56789' });
    expect(second.status).toBe(204);
    expect((await readFile(path.join(tusport.files, upload.split('/').pop()!))).toString()).toBe('0123456789');

    expect(await tusport.fsyncs()).toBe(0);
  });

  it('a bad value of sync exits 2 naming the key and the values it takes, before listening', async () => {
    const scratch = await tempDir('tusport-sync-');
    cleanup.push(scratch.remove);
    const file = path.join(scratch.dir, 'tusport.json');
    await writeFile(file, JSON.stringify({ server: { port: 0 }, endpoints: [{ path: '/files', store: { type: 'disk', directory: './files', sync: 'always' } }] }));
    const result = await run(['serve', '--config', file], scratch.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/endpoints\[0\]\.store\.sync: expected "request" \(fsync before each acknowledgement\) or "none"/);
    expect(result.stdout).not.toContain('listening');
    expect(await readdir(scratch.dir)).toEqual(['tusport.json']);
  });
});
