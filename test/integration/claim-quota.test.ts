import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { listTree } from '../helpers/files.js';
import { errorOf, raw, type RawResponse, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * Finished uploads waiting for their claim occupy storage their owner has not accepted yet, so they
 * count toward `maxUnfinishedUploads` and `maxBytesInFlight` until a claim takes them, a DELETE
 * removes them or the sweep removes them past `claim.ttl`; and the counts rebuilt from the store
 * (a restarted process, a fresh Redis) still count them. Counted in this process and in Redis alike.
 */
const ALICE = 'alice-claim-quota-token-0123456789';
const BOB = 'bob-claim-quota-token-0123456789ab';
const as = (token: string) => ({ Authorization: `Bearer ${token}` });
const auth = { type: 'bearer' as const, tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] };

let redis: RunningRedis;
let prefixes = 0;
const running: RunningTusport[] = [];
const scratches: { remove: () => Promise<void> }[] = [];
beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
  for (const scratch of scratches.splice(0)) await scratch.remove();
});
afterAll(() => redis?.remove());

function config(dir: string, counts: 'memory' | 'redis', keyPrefix: string): TusportConfig {
  return {
    ...(counts === 'redis' ? { locker: { type: 'redis' as const, url: redis.url, keyPrefix } } : {}),
    endpoints: [
      { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') }, auth, claim: { ttl: '1h' }, policy: { quota: { maxUnfinishedUploads: 2 } } },
      { path: '/bytes', store: { type: 'disk', directory: path.join(dir, 'bytes') }, auth, claim: { ttl: '1h' }, policy: { quota: { maxBytesInFlight: 1000 } } },
    ],
  };
}

async function serve(counts: 'memory' | 'redis', dir?: string, keyPrefix = `claim-quota-${process.pid}-${++prefixes}:`): Promise<RunningTusport> {
  let where = dir;
  if (!where) {
    const scratch = await tempDir('tusport-claim-quota-');
    scratches.push(scratch);
    where = scratch.dir;
  }
  const server = await startTusport((root) => config(root, counts, keyPrefix), { dir: where });
  running.push(server);
  return server;
}

/** A finished upload (creation with upload, all its bytes): unclaimed, it waits for its claim. */
async function finished(server: RunningTusport, endpoint: string, bytes: number, token = ALICE): Promise<string> {
  const response = await create(server, endpoint, bytes, token, randomBytes(bytes));
  expect(response.status, response.body).toBe(201);
  expect(response.headers['upload-offset']).toBe(String(bytes));
  return new URL(String(response.headers.location)).pathname;
}

function create(server: RunningTusport, endpoint: string, length: number, token = ALICE, body?: Buffer): Promise<RawResponse> {
  const headers = { ...TUS, ...as(token), 'Upload-Length': String(length), ...(body ? { 'Content-Type': 'application/offset+octet-stream' } : {}) };
  return raw(server.url, { method: 'POST', path: endpoint, headers, ...(body ? { body } : {}) });
}

const claim = (server: RunningTusport, url: string) => raw(server.url, { method: 'POST', path: `${url}/claim`, headers: as(ALICE) });
const sidecars = async (server: RunningTusport) => (await listTree(server.dir)).filter((file) => file.endsWith('.json')).length;

function expectRefused(response: RawResponse, status: number, code: string, message: RegExp): void {
  expect(response.status, response.body).toBe(status);
  expect(errorOf(response).code).toBe(code);
  expect(errorOf(response).message).toMatch(message);
}

describe.each(['memory', 'redis'] as const)('quotas on a claim endpoint, counted in %s', (counts) => {
  it('unclaimed uploads hold their slots: 429 TUSPORT_ERR_QUOTA_UPLOADS with nothing stored; a claim frees one, the sweep past claim.ttl another; others keep their own', async () => {
    const server = await serve(counts);
    const first = await finished(server, '/files', 10);
    await finished(server, '/files', 10);
    const before = await sidecars(server);
    expectRefused(await create(server, '/files', 10), 429, 'TUSPORT_ERR_QUOTA_UPLOADS', /at most 2 unfinished uploads/);
    expect(await sidecars(server)).toBe(before);
    // Bob's slots are his own.
    expect((await create(server, '/files', 10, BOB)).status).toBe(201);

    expect((await claim(server, first)).status).toBe(200);
    // The claimed one no longer counts: one slot free, taken by an unfinished upload (no expiry).
    expect((await create(server, '/files', 10)).status).toBe(201);
    expectRefused(await create(server, '/files', 10), 429, 'TUSPORT_ERR_QUOTA_UPLOADS', /at most 2 unfinished uploads/);

    // Past claim.ttl the sweep removes the unclaimed one, and its slot comes back.
    const swept = await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
    expect(swept.expired).toBe(1);
    expect((await create(server, '/files', 10)).status).toBe(201);
  });

  it('unclaimed bytes count toward maxBytesInFlight: 413 TUSPORT_ERR_QUOTA_BYTES with nothing stored; a DELETE frees them', async () => {
    const server = await serve(counts);
    const url = await finished(server, '/bytes', 600);
    const before = await sidecars(server);
    expectRefused(await create(server, '/bytes', 500), 413, 'TUSPORT_ERR_QUOTA_BYTES', /up to 1000 bytes; this one would make 1100/);
    expect(await sidecars(server)).toBe(before);
    expect((await raw(server.url, { method: 'DELETE', path: url, headers: { ...TUS, ...as(ALICE) } })).status).toBe(204);
    expect((await create(server, '/bytes', 500)).status).toBe(201);
  });

  it('counts rebuilt from the store (a new process, a fresh Redis) still count the unclaimed uploads', async () => {
    const scratch = await tempDir('tusport-claim-quota-');
    scratches.push(scratch);
    const earlier = await serve(counts, scratch.dir);
    const first = await finished(earlier, '/files', 10);
    await finished(earlier, '/files', 10);
    await earlier.close();
    running.splice(running.indexOf(earlier), 1);

    // A new server on the same store (with Redis: under a key prefix that holds no counts yet).
    const later = await serve(counts, scratch.dir);
    expectRefused(await create(later, '/files', 10), 429, 'TUSPORT_ERR_QUOTA_UPLOADS', /at most 2 unfinished uploads/);
    expect((await claim(later, first)).status).toBe(200);
    expect((await create(later, '/files', 10)).status).toBe(201);
  });
});
