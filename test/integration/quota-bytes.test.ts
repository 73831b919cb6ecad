import { stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { listTree } from '../helpers/files.js';
import { errorOf, raw, type RawResponse, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * `policy.quota.maxBytesInFlight` holds however an upload gets its size (issue 11, finding 2):
 * declared at creation, declared later with Upload-Length on a PATCH, or deferred and never
 * declared (then what it received counts). Every refusal is 413 TUSPORT_ERR_QUOTA_BYTES with
 * nothing stored past the quota: offset and data file unchanged. A restarted server counts the
 * same way from the sidecars. Every test runs twice: counted in the process (`locker: memory`),
 * and counted in a real Redis (`locker: redis`, src/coordination/redis-quota.ts), each test under
 * its own key prefix; there the restart test also flushes Redis, so the counts are rebuilt.
 */

const QUOTA = 1000;
const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789ab';
const as = (token: string) => ({ Authorization: `Bearer ${token}` });
const OCTETS = { 'Content-Type': 'application/offset+octet-stream' };

let redis: RunningRedis;
let client: Redis;
let locker: { type: 'memory' } | { type: 'redis'; url: string; keyPrefix: string } = { type: 'memory' };
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
});
afterAll(async () => {
  client?.disconnect();
  await redis?.remove();
});

const config = (dir: string) => ({
  locker,
  endpoints: [
    {
      path: '/files',
      store: { type: 'disk' as const, directory: path.join(dir, 'files') },
      auth: { type: 'bearer' as const, tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] },
      policy: { quota: { maxBytesInFlight: QUOTA } },
    },
  ],
});

let server: RunningTusport | undefined;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await server?.close();
  server = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

async function start(dir?: string): Promise<RunningTusport> {
  server = await startTusport(config, dir ? { dir } : {});
  return server;
}

async function create(s: RunningTusport, token: string, headers: Record<string, string>, body?: Buffer | Iterable<Buffer>): Promise<RawResponse> {
  return raw(s.url, { method: 'POST', path: '/files', headers: { ...TUS, ...as(token), ...(body ? OCTETS : {}), ...headers }, body });
}

const pathOf = (response: RawResponse) => new URL(String(response.headers.location)).pathname;
const dataSize = async (s: RunningTusport, uploadPath: string) => (await stat(path.join(s.dir, 'files', path.basename(uploadPath)))).size;
const patchAs = (s: RunningTusport, token: string, uploadPath: string, offset: number, body: Buffer | Iterable<Buffer>, headers: Record<string, string> = {}) =>
  raw(s.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, ...as(token), ...OCTETS, 'Upload-Offset': String(offset), ...headers }, body });

function expectQuota(response: RawResponse, wouldMake?: string): void {
  expect(response.status).toBe(413);
  expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_BYTES', message: expect.stringContaining(`up to ${QUOTA} bytes`) });
  if (wouldMake) expect(errorOf(response).message).toContain(`would make ${wouldMake}`);
}

/** A body sent without Content-Length (chunked), in pieces. */
function* chunked(data: Buffer, piece = 100): Iterable<Buffer> {
  for (let at = 0; at < data.length; at += piece) yield data.subarray(at, at + piece);
}

describe.each(['memory', 'redis'] as const)('maxBytesInFlight counts every way an upload gets its size (locker: %s)', (type) => {
  beforeEach(() => {
    locker = type === 'memory' ? { type } : { type, url: redis.url, keyPrefix: `quota-bytes-${randomBytes(6).toString('hex')}:` };
  });
  afterEach(async () => {
    // The redis runs really counted in Redis: alice's counts are under this test's prefix.
    if (locker.type === 'redis') expect(await client.hlen(`${locker.keyPrefix}quota:%2Ffiles:alice`)).toBeGreaterThan(0);
  });

  it('a deferred length declared later by a PATCH is checked against the quota: 413, nothing recorded, nothing stored', async () => {
    const s = await start();
    const held = await create(s, ALICE, { 'Upload-Length': '600' });
    expect(held.status).toBe(201);
    const deferred = await create(s, ALICE, { 'Upload-Defer-Length': '1' });
    expect(deferred.status).toBe(201);
    const uploadPath = pathOf(deferred);

    // 600 + 500 > 1000: refused, and the length stays undeclared.
    const declare = await patchAs(s, ALICE, uploadPath, 0, Buffer.alloc(10, 1), { 'Upload-Length': '500' });
    expectQuota(declare, '1100');
    const head = await raw(s.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...as(ALICE) } });
    expect(head.headers['upload-defer-length']).toBe('1');
    expect(head.headers['upload-offset']).toBe('0');
    expect(await dataSize(s, uploadPath)).toBe(0);

    // Within the quota it is accepted; bob's quota is his own.
    const fits = await patchAs(s, ALICE, uploadPath, 0, Buffer.alloc(10, 1), { 'Upload-Length': '400' });
    expect(fits.status).toBe(204);
    expect((await create(s, BOB, { 'Upload-Length': String(QUOTA) })).status).toBe(201);
  });

  it('a deferred length never declared counts the bytes received: a PATCH whose Content-Length would pass the quota is refused before a byte is stored', async () => {
    const s = await start();
    const deferred = pathOf(await create(s, ALICE, { 'Upload-Defer-Length': '1' }));
    expect((await patchAs(s, ALICE, deferred, 0, Buffer.alloc(700, 2))).status).toBe(204);
    // 700 received count: a new upload of 301 declared bytes does not fit, 300 does.
    expectQuota(await create(s, ALICE, { 'Upload-Length': '301' }), '1001');
    const over = await patchAs(s, ALICE, deferred, 700, Buffer.alloc(301, 3));
    expectQuota(over, '1001');
    expect(await dataSize(s, deferred)).toBe(700);
    // Exactly up to the quota is fine.
    expect((await patchAs(s, ALICE, deferred, 700, Buffer.alloc(300, 3))).status).toBe(204);
    expect(await dataSize(s, deferred)).toBe(QUOTA);
    expectQuota(await create(s, ALICE, { 'Upload-Length': '1' }), '1001');
  });

  it('a body without Content-Length to a deferred upload is cut at the quota and undone: 413, offset and data file unchanged', async () => {
    const s = await start();
    expect((await create(s, ALICE, { 'Upload-Length': '400' })).status).toBe(201);
    const deferred = pathOf(await create(s, ALICE, { 'Upload-Defer-Length': '1' }));
    expect((await patchAs(s, ALICE, deferred, 0, chunked(Buffer.alloc(200, 4)))).status).toBe(204);
    // 400 + 200 held: 400 more are room, 2000 are not.
    const over = await patchAs(s, ALICE, deferred, 200, chunked(Buffer.alloc(2000, 5)));
    expectQuota(over);
    expect(await dataSize(s, deferred)).toBe(200);
    const head = await raw(s.url, { method: 'HEAD', path: deferred, headers: { ...TUS, ...as(ALICE) } });
    expect(head.headers['upload-offset']).toBe('200');
    // The room is still there (the refused body's claim was given back).
    expect((await patchAs(s, ALICE, deferred, 200, chunked(Buffer.alloc(400, 6)))).status).toBe(204);
    expect(await dataSize(s, deferred)).toBe(600);
  });

  it('a deferred-length creation with a body counts that body: with Content-Length refused before creating, without it cut and nothing left', async () => {
    const s = await start();
    expect((await create(s, ALICE, { 'Upload-Length': '900' })).status).toBe(201);
    const before = await listStore(s);
    expectQuota(await create(s, ALICE, { 'Upload-Defer-Length': '1' }, Buffer.alloc(101, 7)), '1001');
    const cut = await create(s, ALICE, { 'Upload-Defer-Length': '1' }, chunked(Buffer.alloc(500, 7)));
    expectQuota(cut);
    expect(await listStore(s)).toEqual(before);
    // What fits is stored and counted: 900 + 100 leaves no room.
    const fits = await create(s, ALICE, { 'Upload-Defer-Length': '1' }, chunked(Buffer.alloc(100, 8)));
    expect(fits.status).toBe(201);
    expect(fits.headers['upload-offset']).toBe('100');
    expectQuota(await create(s, ALICE, { 'Upload-Length': '1' }), '1001');
  });

  it('an owner\'s count follows each upload through its life: finishing, terminating and declaring a length give back or take exactly their bytes', async () => {
    // The in-process counts keep a running sum per owner (src/coordination/memory-quota.ts): every
    // change must move it by exactly the upload's difference, or the room drifts.
    const s = await start();
    const finishing = pathOf(await create(s, ALICE, { 'Upload-Length': '300' }));
    const terminated = pathOf(await create(s, ALICE, { 'Upload-Length': '200' }));
    const deferred = pathOf(await create(s, ALICE, { 'Upload-Defer-Length': '1' }));
    expect((await patchAs(s, ALICE, deferred, 0, Buffer.alloc(100, 1))).status).toBe(204);
    expectQuota(await create(s, ALICE, { 'Upload-Length': '401' }), '1001');

    // 300 + 200 + 100 held; the finished upload gives back its 300, the terminated one its 200.
    expect((await patchAs(s, ALICE, finishing, 0, Buffer.alloc(300, 2))).status).toBe(204);
    expect((await raw(s.url, { method: 'DELETE', path: terminated, headers: { ...TUS, ...as(ALICE) } })).status).toBe(204);
    // The deferred upload declares 400: 400 held in all.
    expect((await patchAs(s, ALICE, deferred, 100, Buffer.alloc(10, 3), { 'Upload-Length': '400' })).status).toBe(204);

    expectQuota(await create(s, ALICE, { 'Upload-Length': '601' }), '1001');
    expect((await create(s, ALICE, { 'Upload-Length': '600' })).status).toBe(201);
    expectQuota(await create(s, ALICE, { 'Upload-Length': '1' }), '1001');
    expect((await create(s, BOB, { 'Upload-Length': String(QUOTA) })).status).toBe(201);
  });

  it('after a restart the quota is rebuilt from the sidecars the same way: declared lengths, and received bytes for deferred ones', async () => {
    const store = await tempDir();
    cleanups.push(store.remove);
    let s = await start(store.dir);
    expect((await create(s, ALICE, { 'Upload-Length': '300' })).status).toBe(201);
    const deferred = pathOf(await create(s, ALICE, { 'Upload-Defer-Length': '1' }));
    expect((await patchAs(s, ALICE, deferred, 0, Buffer.alloc(600, 9))).status).toBe(204);
    await s.close();
    server = undefined;
    // Redis keeps the counts over a restart: flush them, so they are rebuilt from the sidecars.
    if (type === 'redis') expect(await client.flushall()).toBe('OK');

    s = await start(store.dir);
    // 300 declared + 600 received = 900 counted.
    expectQuota(await create(s, ALICE, { 'Upload-Length': '101' }), '1001');
    const over = await patchAs(s, ALICE, deferred, 600, Buffer.alloc(101, 9));
    expectQuota(over, '1001');
    expect(await dataSize(s, deferred)).toBe(600);
    expect((await create(s, ALICE, { 'Upload-Length': '100' })).status).toBe(201);
  });
});

const listStore = (s: RunningTusport) => listTree(path.join(s.dir, 'files'));
