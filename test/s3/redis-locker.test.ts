import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { gate } from '../helpers/gate.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { download, heldBody, heldPatch, raceTwoWriters } from '../helpers/lock-race.js';
import { until } from '../helpers/wait.js';
import { ceph, s3Store, sha256 } from './lib.js';

/**
 * The Redis locker with two real `tusport serve` processes on one bucket of the shared RGW. With
 * per-process locks the loser of two racing writers got 503 (S3 NoSuchUpload once the winner had
 * completed the upload; shared/FACTS.md); with the Redis locker it is told 409 and the winner's
 * bytes are the object.
 */
const info = ceph();
const LEASE_MS = 2_000;
let redis: RunningRedis;
let dir: string;
let bucket: string;
let fleet: Fleet;
let a: string;
let b: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(path.join(tmpdir(), 'tusport-s3-redis-lock-'));
  bucket = await createTestBucket(info, 'redis-lock');
  fleet = await startFleet({
    size: 2,
    dir,
    config: {
      locker: { type: 'redis', url: redis.url, lease: LEASE_MS },
      endpoints: [{ path: '/files', store: s3Store(info, bucket) }],
    },
  });
  [a, b] = fleet.instances.map((instance) => instance.url) as [string, string];
});

afterAll(async () => {
  await fleet?.stop();
  await redis?.remove();
  await rm(dir, { recursive: true, force: true });
});

describe('S3: Redis locker across instances', () => {
  it('two writers at the same offset through two instances: exactly one wins, the other gets 409/423, the object is the winner\'s bytes (30 times)', async () => {
    for (let round = 0; round < 30; round += 1) {
      const [x, y] = round % 2 === 0 ? [a, b] : [b, a];
      const { statuses, result, writers } = await raceTwoWriters(x, y, '/files', 256 * 1024);
      expect(statuses.filter((status) => status === 204), `round ${round}: ${statuses}`).toHaveLength(1);
      expect(statuses.filter((status) => status === 409 || status === 423), `round ${round}: ${statuses}`).toHaveLength(1);
      expect(result, `round ${round}`).toBe(writers[statuses.indexOf(204)]);
    }
    // Every upload was completed: no multipart upload is left open.
    expect(await listMultipartUploads(info, bucket)).toEqual([]);
  });

  it('fencing: a holder paused (SIGSTOP) past its lease does not commit its parts over the new holder\'s upload when it resumes: 423', async () => {
    const size = 256 * 1024;
    const stale = randomBytes(size);
    const fresh = randomBytes(size);
    const uploadPath = await createUpload(b, '/files', { 'Upload-Length': size });
    const rest = gate();
    const patching = heldPatch(a, uploadPath, 0, stale, size / 2, rest.promise);
    // The first half is with A (S3 commits it only when its body ends).
    await until(async () => (await redisKeys()).length === 1, 'A to hold the lock');
    await fleet.kill(0, 'SIGSTOP');
    try {
      const headed = await raw(b, { method: 'HEAD', path: uploadPath, headers: TUS });
      expect(headed.headers['upload-offset']).toBe('0');
      expect((await patch(b, uploadPath, 0, fresh)).status).toBe(204);
    } finally {
      rest.open();
      await fleet.kill(0, 'SIGCONT');
    }
    const answered = await patching;
    expect(answered.status).toBe(423);
    expect(errorOf(answered).code).toBe('TUSPORT_ERR_LOCK_LOST');
    expect(sha256(await download(a, uploadPath))).toBe(sha256(fresh));
    // A committed nothing after losing its lease: no `.part` tail of its stale half next to the finished object.
    const id = uploadPath.split('/').pop()!;
    expect((await listAllKeys(info, bucket)).filter((key) => key.startsWith(id)).sort()).toEqual([id, `${id}.info`]);
  });
  it('a creation with upload whose lease is lost mid-body answers 423 TUSPORT_ERR_LOCK_LOST too, and leaves nothing in the bucket', async () => {
    const size = 256 * 1024;
    const data = randomBytes(size);
    const keysBefore = await listAllKeys(info, bucket);
    const rest = gate();
    // Half the body is with A; the rest never comes until A has answered.
    const creating = raw(a, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': String(size), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(size) },
      body: heldBody(data, size / 2, rest.promise),
    });
    await until(async () => (await redisKeys()).length === 1, 'A to hold the new upload\'s lock');
    // What a paused instance finds: its key expired and another holder took it.
    const [key] = await redisKeys();
    await withRedis((client) => client.set(key!, 'someone-else', 'PX', 10_000));
    try {
      const answered = await creating;
      expect(answered.status, answered.body).toBe(423);
      expect(errorOf(answered).code).toBe('TUSPORT_ERR_LOCK_LOST');
    } finally {
      rest.open();
      await withRedis((client) => client.del(key!));
    }
    // The creation failed, so it leaves nothing (its client never learnt the upload's URL).
    expect(await listAllKeys(info, bucket)).toEqual(keysBefore);
  });
});

async function withRedis<T>(use: (client: import('ioredis').Redis) => Promise<T>): Promise<T> {
  const { Redis } = await import('ioredis');
  const client = new Redis(redis.url);
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

function redisKeys(): Promise<string[]> {
  return withRedis((client) => client.keys('tusport:lock:*'));
}
