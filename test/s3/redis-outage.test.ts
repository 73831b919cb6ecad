import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads, removeTestBucket, s3Client } from '../harness/ceph.js';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { gate } from '../helpers/gate.js';
import { createUpload, errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { heldPatch } from '../helpers/lock-race.js';
import { tempDir } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { ceph, MiB, objectBytes, s3Store, sha256 } from './lib.js';

/**
 * Issue 12 on S3 (the store a fleet runs on), two real `tusport serve` on one bucket of the shared
 * RGW and one Redis of the test's own (the locks and the S3 state cache): the hand-over of a busy
 * upload to a HEAD on the other instance, and Redis stopped and restarted in the middle of an
 * upload. (test/integration/redis-locker-fleet.test.ts checks the same on a shared disk store.)
 */
const info = ceph();
const PREFIX = 'outage:';
let redis: RunningRedis;
let inspector: Redis;
let bucket: string;
let scratch: Awaited<ReturnType<typeof tempDir>>;
let fleet: Fleet;
let a: string;
let b: string;

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis(redis.url);
  inspector.on('error', () => undefined);
  bucket = await createTestBucket(info, 'redis-outage');
  scratch = await tempDir('tusport-s3-redis-outage-');
  fleet = await startFleet({
    size: 2,
    dir: scratch.dir,
    config: { locker: { type: 'redis', url: redis.url, keyPrefix: PREFIX, lease: '2s' }, endpoints: [{ path: '/files', store: s3Store(info, bucket) }] },
  });
  [a, b] = fleet.instances.map((instance) => instance.url) as [string, string];
});

afterAll(async () => {
  await fleet?.stop();
  inspector?.disconnect();
  await redis?.remove();
  await scratch?.remove();
  if (bucket) await removeTestBucket(info, bucket);
});

// A test that stopped Redis leaves it (and both instances' readiness) whole for the next one.
afterEach(async () => {
  if (!redis.alive()) await redis.restart();
  await until(async () => (await Promise.all([a, b].map(async (url) => (await fetch(`${url}/readyz`)).status))).every((status) => status === 200), 'both instances ready', 20_000);
});

const idOf = (uploadPath: string) => uploadPath.split('/').pop()!;
const head = (url: string, uploadPath: string) => raw(url, { method: 'HEAD', path: uploadPath, headers: TUS });

/**
 * What the bucket holds: every key, every open multipart upload, and of upload `id` the parts
 * (number, size, etag) and the `.part` tail (size, etag).
 */
async function s3State(id: string): Promise<unknown> {
  const client = s3Client(info);
  try {
    const multiparts = await listMultipartUploads(info, bucket);
    const own = multiparts.find((upload) => upload.Key === id);
    const parts = own ? ((await client.listParts({ Bucket: bucket, Key: id, UploadId: own.UploadId })).Parts ?? []).map((p) => [p.PartNumber, p.Size, p.ETag]) : [];
    const tail = await client.headObject({ Bucket: bucket, Key: `${id}.part` }).then(
      (head) => [head.ContentLength, head.ETag],
      () => undefined,
    );
    return { keys: await listAllKeys(info, bucket), multiparts: multiparts.map((upload) => [upload.Key, upload.UploadId]), parts, tail };
  } finally {
    client.destroy();
  }
}

async function expectFinished(id: string, data: Buffer): Promise<void> {
  expect(sha256(await objectBytes(info, bucket, id))).toBe(sha256(data));
  expect((await listMultipartUploads(info, bucket)).filter((upload) => upload.Key === id)).toEqual([]);
  expect(await listAllKeys(info, bucket, id)).toEqual([id, `${id}.info`]);
}

describe('S3 + Redis across two instances', () => {
  it('a HEAD on instance B during a PATCH on instance A gets the offset A settled at after handing the upload over; the upload resumes on B', async () => {
    const size = 7 * MiB;
    const data = randomBytes(size);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': size });
    const rest = gate();
    // A has the first MiB; its client then goes silent (a half-dead connection).
    const patching = heldPatch(a, uploadPath, 0, data, MiB, rest.promise);
    await until(async () => (await inspector.exists(`${PREFIX}lock:${idOf(uploadPath)}`)) === 1, 'A to hold the lock');
    // B asks A to let go (pub/sub); A stores what it received within the drain time and releases.
    const headed = await head(b, uploadPath);
    const patched = await patching;
    rest.open();
    expect(patched.status, patched.body).toBe(204);
    const settled = Number(patched.headers['upload-offset']);
    expect(settled).toBeLessThanOrEqual(MiB);
    expect(headed.status).toBe(200);
    expect(Number(headed.headers['upload-offset'])).toBe(settled);
    // A HEAD on A agrees, and the upload goes on from there through B.
    expect(await headOffset(a, uploadPath)).toBe(settled);
    expect((await patch(b, uploadPath, settled, data.subarray(settled))).status).toBe(204);
    await expectFinished(idOf(uploadPath), data);
    console.log(`[s3 hand-over] A kept ${settled} of the ${MiB} bytes its client had sent when B's HEAD asked for the upload`);
  });

  it('Redis stopped mid-upload: 503 naming Redis on both instances and /readyz not ready, nothing written to S3; after its restart the upload resumes from the acknowledged offset, byte-identical', async () => {
    const size = 7 * MiB;
    const first = 3 * MiB;
    const data = randomBytes(size);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': size });
    const id = idOf(uploadPath);
    // 3 MiB: under minPartSize, so it waits in the `.part` tail (and the state cache knows it).
    expect((await patch(a, uploadPath, 0, data.subarray(0, first))).status).toBe(204);
    const before = await s3State(id);

    await redis.stop();
    await until(async () => (await fetch(`${b}/readyz`)).status === 503 && (await fetch(`${a}/readyz`)).status === 503, 'both /readyz to notice');
    const label = `redis://127.0.0.1:${redis.port}/0`;
    // Small bodies: an answer sent before the body is read may close the connection, and a
    // client still writing megabytes then sees EPIPE instead of the 503 (tus clients retry either way).
    const refused = [
      await patch(b, uploadPath, first, data.subarray(first, first + 64 * 1024)),
      await patch(a, uploadPath, first, data.subarray(first, first + 64 * 1024)),
      await raw(b, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } }),
      await raw(a, { method: 'DELETE', path: uploadPath, headers: TUS }),
    ];
    for (const response of refused) {
      expect(response.status, response.body).toBe(503);
      expect(errorOf(response)).toEqual({ code: 'TUSPORT_ERR_COORDINATION_UNAVAILABLE', message: `Redis at ${label} is unreachable; retry later`, statusCode: 503, error: 'Service Unavailable' });
    }
    // A HEAD answer has no body: its status says it.
    expect((await head(a, uploadPath)).status).toBe(503);
    expect((await head(b, uploadPath)).status).toBe(503);
    // Nothing was written, deleted or created in S3 while the lock could not be taken.
    expect(await s3State(id)).toEqual(before);

    await redis.restart();
    await until(async () => (await fetch(`${a}/readyz`)).status === 200 && (await fetch(`${b}/readyz`)).status === 200, 'both instances ready again', 20_000);
    expect(await headOffset(b, uploadPath)).toBe(first);
    expect((await patch(b, uploadPath, first, data.subarray(first))).status).toBe(204);
    await expectFinished(id, data);
  });

  it('Redis stopped while a PATCH holds the lock: the holder stops writing once its lease has run out locally (503 naming Redis), and after the restart the upload resumes from what HEAD reports, byte-identical', async () => {
    const size = 7 * MiB;
    const data = randomBytes(size);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': size });
    const id = idOf(uploadPath);
    expect((await patch(a, uploadPath, 0, data.subarray(0, MiB))).status).toBe(204);
    const before = await s3State(id);
    const rest = gate();
    // 2 MiB more (still under minPartSize: S3 gets them as the `.part` tail when the body ends); A has the first MiB of them.
    const patching = heldPatch(a, uploadPath, MiB, data.subarray(MiB, 3 * MiB), MiB, rest.promise);
    await until(async () => (await inspector.exists(`${PREFIX}lock:${id}`)) === 1, 'A to hold the lock');
    await redis.stop();
    // The lease (2 s) was last renewed before the stop: past stop + lease it has certainly run out
    // on A's monotonic clock (it counts it as its own only until renewal + lease - lease/5).
    const stoppedAt = performance.now();
    await until(() => performance.now() - stoppedAt > 2_000, 'the lease to run out');
    rest.open();
    const answered = await patching;
    expect(answered.status, answered.body).toBe(503);
    expect(errorOf(answered)).toMatchObject({ code: 'TUSPORT_ERR_COORDINATION_UNAVAILABLE', message: `Redis at redis://127.0.0.1:${redis.port}/0 is unreachable; retry later` });
    // It committed nothing after the loss.
    expect(await s3State(id)).toEqual(before);

    await redis.restart();
    await until(async () => (await fetch(`${a}/readyz`)).status === 200 && (await fetch(`${b}/readyz`)).status === 200, 'both instances ready again', 20_000);
    const offset = await headOffset(b, uploadPath);
    expect(offset).toBe(MiB);
    expect((await patch(b, uploadPath, offset, data.subarray(offset))).status).toBe(204);
    await expectFinished(id, data);
  });
});
