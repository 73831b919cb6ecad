import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { listTree } from '../helpers/files.js';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * Quotas counted in Redis (`locker.type: redis`) when Redis is not there: a creation that needs
 * the count gets 503 TUSPORT_ERR_COORDINATION_UNAVAILABLE naming Redis without its password, and
 * nothing is stored; once Redis is back the counts are rebuilt from the store (a Redis restarted
 * without its data has none) and the limit holds again. And the slot a creation leaves counted
 * when its instance dies between the quota check and the sidecar is given back by the sweep.
 */
const PASSWORD = 'quota-redis-password-0123456789';
const TOKEN = 'alice-quota-redis-token-0123456789';

let redis: RunningRedis;
let server: RunningTusport | undefined;
let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  redis = await startRedis({ password: PASSWORD });
});
afterEach(async () => {
  await server?.close();
  server = undefined;
  await scratch?.remove();
  if (!redis.alive()) await redis.restart();
});
afterAll(async () => {
  await redis?.remove();
});

const create = (s: RunningTusport) => raw(s.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', Authorization: `Bearer ${TOKEN}` } });

async function serve(prefix: string): Promise<RunningTusport> {
  scratch = await tempDir('tusport-quota-redis-');
  server = await startTusport(
    {
      locker: { type: 'redis', url: redis.url, keyPrefix: prefix },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(scratch.dir, 'files') },
          auth: { type: 'bearer', tokens: [{ id: 'alice', token: TOKEN }] },
          policy: { quota: { maxUnfinishedUploads: 2 } },
        },
      ],
    },
    { dir: scratch.dir },
  );
  return server;
}

it('a slot counted for an upload the store does not have (its creation was killed after the quota check) is given back by the sweep; a fresh reservation is kept', async () => {
  const s = await serve('quota-phantom:');
  expect((await create(s)).status).toBe(201);
  const client = new Redis(redis.url);
  try {
    // What an instance SIGKILLed between its quota check and its sidecar leaves: a counted id,
    // reserved long ago, that no upload in the store has.
    const owner = 'quota-phantom:quota:%2Ffiles:alice';
    await client.hset(owner, 'f'.repeat(32), '10');
    await client.zadd('quota-phantom:quota-reserved:%2Ffiles', Date.now() - 3_600_000 + 60_000, 'f'.repeat(32));
    const refused = await create(s);
    expect(refused.status).toBe(429);
    expect(errorOf(refused).code).toBe('TUSPORT_ERR_QUOTA_UPLOADS');

    // A reservation a second old may be a creation still on its way to the store: kept.
    await client.hset(owner, 'e'.repeat(32), '10');
    await client.zadd('quota-phantom:quota-reserved:%2Ffiles', Date.now(), 'e'.repeat(32));
    // A principal with no upload at all but a leftover slot (found by scanning Redis, not the store).
    await client.hset('quota-phantom:quota:%2Ffiles:bob', 'd'.repeat(32), '10');
    await s.app.tusport.sweep();
    expect(await client.exists('quota-phantom:quota:%2Ffiles:bob')).toBe(0);
    expect(await client.hexists(owner, 'f'.repeat(32))).toBe(0);
    expect(await client.hexists(owner, 'e'.repeat(32))).toBe(1);
    // The real upload stays counted: it and the fresh reservation are alice's two slots.
    expect(await client.hlen(owner)).toBe(2);
    await client.hdel(owner, 'e'.repeat(32));
    expect((await create(s)).status).toBe(201);
  } finally {
    client.disconnect();
  }
});

it('Redis down: 503 with the coordination code and a message naming Redis (no password), nothing stored; back up (and empty): counts rebuilt, the limit holds', async () => {
  server = await serve('quota-redis:');
  expect((await create(server)).status).toBe(201);
  const before = await listTree(path.join(scratch.dir, 'files'));

  await redis.kill();
  const refused = await create(server);
  expect(refused.status).toBe(503);
  expect(errorOf(refused)).toMatchObject({ code: 'TUSPORT_ERR_COORDINATION_UNAVAILABLE', message: `Redis at redis://127.0.0.1:${redis.port}/0 is unreachable; retry later` });
  expect(refused.body).not.toContain(PASSWORD);
  expect(await listTree(path.join(scratch.dir, 'files'))).toEqual(before);

  // Back, but without the counts (the data directory is emptied: a Redis that lost its data).
  await redis.stop();
  await rm(redis.dir, { recursive: true, force: true });
  await mkdir(redis.dir, { recursive: true });
  await redis.restart();
  const client = new Redis(redis.url);
  try {
    expect(await client.dbsize()).toBe(0);
    let second = await create(server);
    // The client reconnects with backoff: until then, the same 503.
    for (let i = 0; i < 100 && second.status === 503; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      second = await create(server);
    }
    expect(second.status).toBe(201);
    const third = await create(server);
    expect(third.status).toBe(429);
    expect(errorOf(third).code).toBe('TUSPORT_ERR_QUOTA_UPLOADS');
    expect(await client.hlen('quota-redis:quota:%2Ffiles:alice')).toBe(2);
    expect(await client.exists('quota-redis:quota-built:%2Ffiles')).toBe(1);
  } finally {
    client.disconnect();
  }
});
