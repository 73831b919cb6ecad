import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { sha256 } from '../helpers/files.js';
import { gate } from '../helpers/gate.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { download, heldPatch, raceTwoWriters } from '../helpers/lock-race.js';
import { until } from '../helpers/wait.js';

/**
 * Two real `tusport serve` processes sharing one disk store directory (what a shared POSIX
 * filesystem gives several hosts) and one Redis locker, each request sent to the instance the
 * test picks: what a round-robin load balancer does to one upload's requests.
 */
const LEASE_MS = 2_000;
const PREFIX = 'fleettest:';
let redis: RunningRedis;
let inspector: Redis;
let dir: string;
let dataDir: string;
let fleet: Fleet;
let a: string;
let b: string;

beforeAll(async () => {
  redis = await startRedis();
  inspector = new Redis(redis.url);
  inspector.on('error', () => undefined);
  dir = await mkdtemp(path.join(tmpdir(), 'tusport-redis-fleet-'));
  dataDir = path.join(dir, 'data');
  fleet = await startFleet({
    size: 2,
    dir,
    config: {
      locker: { type: 'redis', url: redis.url, keyPrefix: PREFIX, lease: LEASE_MS },
      endpoints: [{ path: '/files', store: { type: 'disk', directory: dataDir } }],
    },
  });
  [a, b] = fleet.instances.map((instance) => instance.url) as [string, string];
});

afterAll(async () => {
  await fleet?.stop();
  inspector?.disconnect();
  await redis?.remove();
  await rm(dir, { recursive: true, force: true });
});

afterEach(async () => {
  // A test that stopped Redis or an instance leaves the fleet whole for the next one.
  if (!redis.alive()) await redis.restart();
  for (const instance of fleet.instances) {
    const process = instance.process;
    if (!process || process.child.exitCode !== null || process.child.signalCode !== null) await fleet.restart(instance.index);
    else await fleet.kill(instance.index, 'SIGCONT');
  }
});

const idOf = (uploadPath: string) => uploadPath.split('/').pop()!;
const fileSize = async (uploadPath: string) => (await stat(path.join(dataDir, idOf(uploadPath))).catch(() => undefined))?.size;
const head = (url: string, uploadPath: string) => raw(url, { method: 'HEAD', path: uploadPath, headers: TUS });

describe('Redis locker across instances (shared disk store)', () => {
  it('two writers at the same offset through two instances: exactly one wins, the other gets 409/423, bytes never interleaved (30 times)', async () => {
    const tally = { first: 0, second: 0, conflict: 0, locked: 0 };
    for (let round = 0; round < 30; round += 1) {
      // Alternate which instance creates the upload and writes first.
      const [x, y] = round % 2 === 0 ? [a, b] : [b, a];
      const { statuses, result, writers } = await raceTwoWriters(x, y, '/files', 256 * 1024);
      expect(statuses.filter((status) => status === 204), `round ${round}: ${statuses}`).toHaveLength(1);
      expect(statuses.filter((status) => status === 409 || status === 423), `round ${round}: ${statuses}`).toHaveLength(1);
      const winner = statuses.indexOf(204);
      expect(result, `round ${round}`).toBe(writers[winner]);
      tally[winner === 0 ? 'first' : 'second'] += 1;
      tally[statuses.includes(409) ? 'conflict' : 'locked'] += 1;
    }
    console.log(`two writers, 30 rounds: winners ${JSON.stringify(tally)}`);
  });

  it('a HEAD on instance B during a PATCH on instance A gets the offset settled after the hand-over', async () => {
    const size = 512 * 1024;
    const data = randomBytes(size);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': size });
    const rest = gate();
    const patching = heldPatch(a, uploadPath, 0, data, size / 4, rest.promise);
    await until(async () => (await fileSize(uploadPath)) === size / 4, 'the first quarter on disk');
    // B asks A to let go; A's PATCH (its client silent) is cut after the drain time, keeping what it has.
    const headed = await head(b, uploadPath);
    const patched = await patching;
    rest.open();
    expect(patched.status).toBe(204);
    expect(patched.headers['upload-offset']).toBe(String(size / 4));
    expect(headed.status).toBe(200);
    expect(headed.headers['upload-offset']).toBe(String(size / 4));
    // And the upload goes on from there, through the other instance.
    expect((await patch(b, uploadPath, size / 4, data.subarray(size / 4))).status).toBe(204);
    expect(sha256(await download(a, uploadPath))).toBe(sha256(data));
  });

  it(`a holder SIGKILLed mid-PATCH leaves its lock to expire within the lease (${LEASE_MS} ms): another instance serves HEAD and the resumed PATCH, the file is byte-identical`, async () => {
    const size = 512 * 1024;
    const data = randomBytes(size);
    const uploadPath = await createUpload(b, '/files', { 'Upload-Length': size });
    const never = gate();
    const patching = heldPatch(a, uploadPath, 0, data, size / 2, never.promise).catch((error: unknown) => error);
    await until(async () => (await fileSize(uploadPath)) === size / 2, 'the first half on disk');
    const key = `${PREFIX}lock:${idOf(uploadPath)}`;
    expect(await inspector.exists(key)).toBe(1);
    await fleet.kill(0, 'SIGKILL');
    const killedAt = performance.now();
    // The bound, read from Redis itself: the dead holder's key expires within one lease.
    const ttl = await inspector.pttl(key);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(LEASE_MS);
    const headed = await head(b, uploadPath);
    const waited = performance.now() - killedAt;
    expect(headed.status).toBe(200);
    expect(headed.headers['upload-offset']).toBe(String(size / 2));
    expect((await patch(b, uploadPath, size / 2, data.subarray(size / 2))).status).toBe(204);
    expect(sha256(await download(b, uploadPath))).toBe(sha256(data));
    await patching;
    console.log(`lease expiry: HEAD on the other instance answered ${Math.round(waited)} ms after the SIGKILL (lease ${LEASE_MS} ms, key TTL at the kill ${ttl} ms)`);
  });

  it("fencing: a holder paused (SIGSTOP) past its lease cannot write over the new holder's bytes when it resumes", async () => {
    const size = 512 * 1024;
    const half = size / 2;
    const stale = randomBytes(size);
    const fresh = randomBytes(size - half);
    const uploadPath = await createUpload(b, '/files', { 'Upload-Length': size });
    const rest = gate();
    const patching = heldPatch(a, uploadPath, 0, stale, half, rest.promise);
    await until(async () => (await fileSize(uploadPath)) === half, 'the first half on disk');
    const key = `${PREFIX}lock:${idOf(uploadPath)}`;
    const staleToken = await inspector.get(key);
    await fleet.kill(0, 'SIGSTOP');
    // B takes the upload over once A's lease has run out, and finishes it with its own bytes.
    const headed = await head(b, uploadPath);
    expect(headed.headers['upload-offset']).toBe(String(half));
    expect(await inspector.get(key)).not.toBe(staleToken);
    expect((await patch(b, uploadPath, half, fresh)).status).toBe(204);
    const expected = Buffer.concat([stale.subarray(0, half), fresh]);
    // A wakes up and its client sends the rest of its body: it must not land.
    rest.open();
    await fleet.kill(0, 'SIGCONT');
    const answered = await patching;
    expect(answered.status).toBe(423);
    expect(errorOf(answered).code).toBe('TUSPORT_ERR_LOCK_LOST');
    expect(await fileSize(uploadPath)).toBe(size);
    expect(sha256(await download(b, uploadPath))).toBe(sha256(expected));
  });

  it('Redis stopped mid-run: 503 naming Redis while it is down and /readyz not ready; after its restart the upload resumes, nothing lost', async () => {
    const size = 256 * 1024;
    const data = randomBytes(size);
    const uploadPath = await createUpload(a, '/files', { 'Upload-Length': size });
    expect((await patch(a, uploadPath, 0, data.subarray(0, size / 2))).status).toBe(204);
    await redis.stop();
    await until(async () => (await fetch(`${b}/readyz`)).status === 503, '/readyz to notice');
    const label = `redis://127.0.0.1:${redis.port}/0`;
    for (const response of [
      await patch(b, uploadPath, size / 2, data.subarray(size / 2)),
      await head(a, uploadPath),
      await raw(b, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } }),
    ]) {
      expect(response.status).toBe(503);
      if (response.body) expect(errorOf(response)).toEqual({ code: 'TUSPORT_ERR_COORDINATION_UNAVAILABLE', message: `Redis at ${label} is unreachable; retry later`, statusCode: 503, error: 'Service Unavailable' });
    }
    // Nothing was written while the lock could not be taken.
    expect(await fileSize(uploadPath)).toBe(size / 2);
    await redis.restart();
    await until(async () => (await fetch(`${a}/readyz`)).status === 200 && (await fetch(`${b}/readyz`)).status === 200, 'both instances ready again', 20_000);
    expect((await head(b, uploadPath)).headers['upload-offset']).toBe(String(size / 2));
    expect((await patch(b, uploadPath, size / 2, data.subarray(size / 2))).status).toBe(204);
    expect(sha256(await download(a, uploadPath))).toBe(sha256(data));
  });
});
