import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads, s3Client } from '../harness/ceph.js';
import { killAll, start } from '../helpers/cli.js';
import { gate } from '../helpers/gate.js';
import { createUpload, headOffset, patch } from '../helpers/http.js';
import { type FaultProxy, s3Request, startFaultProxy } from '../helpers/s3-fault-proxy.js';
import { startTusport, tempDir } from '../helpers/server.js';
import { ceph, MiB, objectBytes, s3FilesConfig, s3Store, sha256 } from './lib.js';

/**
 * Bytes acknowledged with a 204 survive what happens next: an S3 error or the death of the
 * instance while the part that takes over the `<key>.part` tail is on its way. The faults are
 * real: a proxy between tusport and RGW cuts or holds the chosen S3 request, and `tusport serve`
 * is SIGKILLed with that request in flight. (@tus/s3-store deleted the tail before uploading the
 * part holding its bytes: each of these lost the first PATCH's 3 MiB and HEAD said 0.)
 */
const info = ceph();
const SIZE = 12 * MiB;
const FIRST = 3 * MiB;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll();
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function proxied(): Promise<{ bucket: string; proxy: FaultProxy }> {
  const bucket = await createTestBucket(info, 'durable');
  const proxy = await startFaultProxy(info.endpoint);
  cleanup.push(() => proxy.close());
  return { bucket, proxy };
}

/** An in-process tusport whose S3 requests go through the proxy. */
async function serverVia(proxy: FaultProxy, bucket: string) {
  const server = await startTusport(s3FilesConfig(info, bucket, {}, { endpoint: proxy.url }));
  cleanup.push(() => server.close());
  return server;
}

/** Create the upload and send the first 3 MiB: less than minPartSize, so they wait in `<id>.part`. */
async function startUpload(url: string, data: Buffer): Promise<string> {
  const uploadPath = await createUpload(url, '/files', { 'Upload-Length': data.length });
  const first = await patch(url, uploadPath, 0, data.subarray(0, FIRST));
  expect(first.status).toBe(204);
  expect(first.headers['upload-offset']).toBe(String(FIRST));
  return uploadPath;
}

/** Resume from what HEAD says (never below what was acknowledged) and check the object byte for byte. */
async function resumeAndVerify(url: string, bucket: string, uploadPath: string, data: Buffer, acknowledged: number) {
  const offset = await headOffset(url, uploadPath);
  expect(offset).toBeGreaterThanOrEqual(acknowledged);
  const rest = await patch(url, uploadPath, offset, data.subarray(offset));
  expect(rest.status).toBe(204);
  expect(rest.headers['upload-offset']).toBe(String(data.length));
  const id = uploadPath.split('/').pop()!;
  expect(sha256(await objectBytes(info, bucket, id))).toBe(sha256(data));
  expect((await listMultipartUploads(info, bucket)).filter((upload) => upload.Key === id)).toEqual([]);
  expect(await listAllKeys(info, bucket, id)).toEqual([id, `${id}.info`]);
}

/** A `METHOD url` line of the proxy's log as the request shape its matchers take. */
function requestLike(line: string): IncomingMessage {
  const [method, url] = line.split(' ');
  return { method, url } as IncomingMessage;
}

describe('S3: the <key>.part tail is never the only copy of acknowledged bytes', () => {
  it.each([
    // 3 + 3 MiB: the first part (old tail + new bytes) is uploaded, and every attempt is cut.
    ['an UploadPart that fails', (bucket: string, id: string) => s3Request.uploadPart(bucket, id), 2 * FIRST],
    // 3 + 1 MiB is still below minPartSize: the write replaces the tail, and that PUT is cut.
    ['a PUT of the grown tail that fails', (bucket: string, id: string) => s3Request.putObject(bucket, `${id}.part`), FIRST + MiB],
  ])('%s (connection cut) leaves the acknowledged offset and the old tail in place', async (_name, matcher, secondEnd) => {
    const { bucket, proxy } = await proxied();
    const server = await serverVia(proxy, bucket);
    const data = randomBytes(SIZE);
    const uploadPath = await startUpload(server.url, data);
    const id = uploadPath.split('/').pop()!;

    proxy.rules.push({ match: matcher(bucket, id), action: { kind: 'cut' } });
    const failed = await patch(server.url, uploadPath, FIRST, data.subarray(FIRST, secondEnd));
    expect(failed.status).toBe(503);
    expect(proxy.seen.filter((line) => matcher(bucket, id)(requestLike(line)))).not.toEqual([]);

    proxy.rules.length = 0;
    expect(await headOffset(server.url, uploadPath)).toBe(FIRST);
    await resumeAndVerify(server.url, bucket, uploadPath, data, FIRST);
  });

  it('a stale tail (its part committed, its delete cut) is not counted twice', async () => {
    const { bucket, proxy } = await proxied();
    const server = await serverVia(proxy, bucket);
    const data = randomBytes(SIZE);
    const uploadPath = await startUpload(server.url, data);
    const id = uploadPath.split('/').pop()!;

    // 3 + 2 MiB make exactly one 5 MiB part and no new tail: the old tail is then deleted, and that DELETE is cut.
    proxy.rules.push({ match: s3Request.deleteObject(bucket, `${id}.part`), action: { kind: 'cut' } });
    const second = await patch(server.url, uploadPath, FIRST, data.subarray(FIRST, 5 * MiB));
    expect(second.status).toBe(204);
    expect(second.headers['upload-offset']).toBe(String(5 * MiB));
    // The old tail is still in the bucket, and HEAD does not add its 3 MiB to the part's 5.
    expect(await listAllKeys(info, bucket, id)).toContain(`${id}.part`);
    proxy.rules.length = 0;
    expect(await headOffset(server.url, uploadPath)).toBe(5 * MiB);
    await resumeAndVerify(server.url, bucket, uploadPath, data, 5 * MiB);
  });

  it('a part after a gap (an older writer that uploaded parts concurrently failed on an earlier one) is not counted, and is overwritten', async () => {
    const { bucket, proxy } = await proxied();
    const server = await serverVia(proxy, bucket);
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const id = uploadPath.split('/').pop()!;
    expect((await patch(server.url, uploadPath, 0, data.subarray(0, 5 * MiB))).status).toBe(204);
    const [multipart] = (await listMultipartUploads(info, bucket)).filter((upload) => upload.Key === id);
    await s3Client(info).uploadPart({ Bucket: bucket, Key: id, UploadId: multipart!.UploadId, PartNumber: 3, Body: randomBytes(5 * MiB) });

    expect(await headOffset(server.url, uploadPath)).toBe(5 * MiB);
    await resumeAndVerify(server.url, bucket, uploadPath, data, 5 * MiB);
  });

  it.each([
    ['the UploadPart holding the tail', (bucket: string, id: string) => s3Request.uploadPart(bucket, id), 2 * FIRST],
    ['the PUT of the grown tail', (bucket: string, id: string) => s3Request.putObject(bucket, `${id}.part`), FIRST + MiB],
  ])('`tusport serve` SIGKILLed with %s in flight: a restarted instance resumes from the acknowledged offset', async (_name, matcher, secondEnd) => {
    const { bucket, proxy } = await proxied();
    const scratch = await tempDir('tusport-durable-');
    cleanup.push(() => scratch.remove());
    const config = path.join(scratch.dir, 'tusport.json');
    const endpoint = { path: '/files', store: s3Store(info, bucket, { endpoint: proxy.url }) };
    await writeFile(config, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, endpoints: [endpoint] }));
    const first = await start(['serve', '--config', config], scratch.dir);
    const data = randomBytes(SIZE);
    const uploadPath = await startUpload(first.url, data);
    const id = uploadPath.split('/').pop()!;

    const held = gate();
    const arrived = gate();
    proxy.rules.push({ match: matcher(bucket, id), action: { kind: 'hold', release: held.promise }, onMatch: () => arrived.open() });
    const second = patch(first.url, uploadPath, FIRST, data.subarray(FIRST, secondEnd)).catch((error: unknown) => error);
    await arrived.promise;
    first.child.kill('SIGKILL');
    await first.exited;
    expect(await second).toBeInstanceOf(Error);
    // The held request is never forwarded: its sender is dead (the proxy drops it on close).
    proxy.rules.length = 0;

    const restarted = await start(['serve', '--config', config], scratch.dir);
    expect(await headOffset(restarted.url, uploadPath)).toBe(FIRST);
    await resumeAndVerify(restarted.url, bucket, uploadPath, data, FIRST);
  });
});
