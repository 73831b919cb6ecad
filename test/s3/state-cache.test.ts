import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads, s3Client } from '../harness/ceph.js';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { killAll } from '../helpers/cli.js';
import { gate } from '../helpers/gate.js';
import { createUpload, headOffset, patch } from '../helpers/http.js';
import { type FaultProxy, s3Request, startFaultProxy } from '../helpers/s3-fault-proxy.js';
import { tempDir } from '../helpers/server.js';
import { ceph, MiB, objectBytes, s3Store, sha256 } from './lib.js';

/**
 * The Redis state cache of S3 uploads across two real `tusport serve` instances on one bucket and
 * one Redis. Every S3 request goes through a loopback proxy that logs it: "answered from Redis"
 * is checked as "no S3 request", not taken on trust.
 */
const info = ceph();
const SIZE = 13 * MiB;
let redis: RunningRedis;
let inspector: Redis;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis(redis.url);
});
afterAll(async () => {
  inspector?.disconnect();
  await redis?.remove();
});
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
  await killAll();
});

async function twoInstances(): Promise<{ fleet: Fleet; proxy: FaultProxy; bucket: string; a: string; b: string }> {
  const bucket = await createTestBucket(info, 'cache');
  const proxy = await startFaultProxy(info.endpoint);
  cleanup.push(() => proxy.close());
  const scratch = await tempDir('tusport-cache-');
  cleanup.push(() => scratch.remove());
  // Its own key prefix per test: tests share the Redis, never each other's keys.
  const keyPrefix = `t${randomBytes(4).toString('hex')}:`;
  const fleet = await startFleet({
    size: 2,
    dir: scratch.dir,
    config: {
      server: { host: '127.0.0.1' },
      locker: { type: 'redis', url: redis.url, keyPrefix, lease: '2s' },
      endpoints: [{ path: '/files', store: s3Store(info, bucket, { endpoint: proxy.url }) }],
    },
  });
  cleanup.push(() => fleet.stop());
  return { fleet, proxy, bucket, a: fleet.instances[0]!.url, b: fleet.instances[1]!.url };
}

/** HEAD, and how many S3 requests it took. */
async function headCounting(proxy: FaultProxy, url: string, uploadPath: string): Promise<{ offset: number; s3Requests: number }> {
  const before = proxy.seen.length;
  const offset = await headOffset(url, uploadPath);
  return { offset, s3Requests: proxy.seen.length - before };
}

async function expectStored(bucket: string, id: string, data: Buffer) {
  expect(sha256(await objectBytes(info, bucket, id))).toBe(sha256(data));
  expect((await listMultipartUploads(info, bucket)).filter((upload) => upload.Key === id)).toEqual([]);
  expect(await listAllKeys(info, bucket, id)).toEqual([id, `${id}.info`]);
}

describe('S3 state cache in Redis, two instances', () => {
  it('writes on A, HEADs on B: B answers from Redis alone with the offset A acknowledged, to the last byte', async () => {
    const { proxy, bucket, a, b } = await twoInstances();
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': SIZE });
    // 3 MiB steps: tails, parts holding a tail, tails again; the instances take turns writing.
    let offset = 0;
    for (let step = 0; offset < SIZE; step++) {
      const [writer, reader] = step % 2 === 0 ? [a, b] : [b, a];
      const end = Math.min(SIZE, offset + 3 * MiB);
      const written = await patch(writer, uploadPath, offset, data.subarray(offset, end));
      expect(written.status).toBe(204);
      offset = end;
      expect(await headCounting(proxy, reader, uploadPath)).toEqual({ offset, s3Requests: 0 });
    }
    await expectStored(bucket, uploadPath.split('/').pop()!, data);
  });

  it('a cache flushed mid-upload is rebuilt from S3 by the next request, then serves HEADs alone again', async () => {
    const { proxy, bucket, a, b } = await twoInstances();
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': SIZE });
    expect((await patch(a, uploadPath, 0, data.subarray(0, 7 * MiB))).status).toBe(204);
    await inspector.flushdb();

    const rebuilt = await headCounting(proxy, b, uploadPath);
    expect(rebuilt.offset).toBe(7 * MiB);
    expect(rebuilt.s3Requests).toBeGreaterThan(0);
    expect(await headCounting(proxy, a, uploadPath)).toEqual({ offset: 7 * MiB, s3Requests: 0 });

    expect((await patch(b, uploadPath, 7 * MiB, data.subarray(7 * MiB))).status).toBe(204);
    await expectStored(bucket, uploadPath.split('/').pop()!, data);
  });

  it('an instance SIGKILLed mid-write (a part committed, the cache not yet) leaves its entry in doubt: the other reads S3', async () => {
    const { fleet, proxy, bucket, a, b } = await twoInstances();
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': SIZE });
    const id = uploadPath.split('/').pop()!;
    expect((await patch(a, uploadPath, 0, data.subarray(0, 3 * MiB))).status).toBe(204);

    // 3 + 6 MiB: part 1 (the old tail + 2 MiB) is committed, then the PUT of the new 4 MiB tail is held and A dies.
    const arrived = gate();
    proxy.rules.push({ match: s3Request.putObject(bucket, `${id}.part`), action: { kind: 'hold', release: new Promise(() => undefined) }, onMatch: () => arrived.open() });
    const dying = patch(a, uploadPath, 3 * MiB, data.subarray(3 * MiB, 9 * MiB)).catch((error: unknown) => error);
    await arrived.promise;
    await fleet.kill(0);
    expect(await dying).toBeInstanceOf(Error);
    proxy.rules.length = 0;

    // B waits out A's lease (2 s), finds the entry dirty and reads S3: part 1 (the old tail, now stale, not counted again).
    const head = await headCounting(proxy, b, uploadPath);
    expect(head.offset).toBe(5 * MiB);
    expect(head.s3Requests).toBeGreaterThan(0);
    expect((await patch(b, uploadPath, 5 * MiB, data.subarray(5 * MiB))).status).toBe(204);
    await expectStored(bucket, id, data);
  });

  it.each([
    // 3 MiB (a tail), then 3 more: part 1 (5 MiB) and a 1 MiB tail; the stale entry expects the old tail.
    ['a tail', 3 * MiB, 6 * MiB],
    // 5 MiB (part 1), then 5 more (part 2): the stale entry knows no tail and one part fewer.
    ['whole parts', 5 * MiB, 10 * MiB],
  ])('a stale entry (Redis restored from before the last PATCH, after %s) cannot make a write overwrite committed bytes', async (_name, first, second) => {
    const { proxy, bucket, a, b } = await twoInstances();
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': SIZE });
    const id = uploadPath.split('/').pop()!;
    expect((await patch(a, uploadPath, 0, data.subarray(0, first))).status).toBe(204);
    const keys = await inspector.keys('*s3:*');
    expect(keys.length).toBeGreaterThan(0);
    const snapshot = await Promise.all(keys.map(async (key) => [key, await inspector.dumpBuffer(key)] as const));

    // The second PATCH is acknowledged; then Redis "loses" it.
    expect((await patch(a, uploadPath, first, data.subarray(first, second))).status).toBe(204);
    const [multipart] = (await listMultipartUploads(info, bucket)).filter((upload) => upload.Key === id);
    const listParts = async () => (await s3Client(info).listParts({ Bucket: bucket, Key: id, UploadId: multipart!.UploadId })).Parts;
    const partsBefore = await listParts();
    for (const [key, dump] of snapshot) if (dump) await inspector.restore(key, 0, dump, 'REPLACE');
    expect(await headOffset(b, uploadPath)).toBe(first);

    // A write at the stale offset is refused before any byte goes out, and the entry is rebuilt.
    const refused = await patch(b, uploadPath, first, randomBytes(3 * MiB));
    expect(refused.status).toBe(503);
    expect(await listParts()).toEqual(partsBefore);
    expect(await headOffset(b, uploadPath)).toBe(second);
    expect(await headCounting(proxy, a, uploadPath)).toEqual({ offset: second, s3Requests: 0 });

    expect((await patch(a, uploadPath, second, data.subarray(second))).status).toBe(204);
    await expectStored(bucket, id, data);
  });
});
