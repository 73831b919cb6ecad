import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { createTestBucket, listMultipartUploads } from '../harness/ceph.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { type FaultProxy, startFaultProxy } from '../helpers/s3-fault-proxy.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { ceph, s3Store } from './lib.js';

/**
 * Quota counts are rebuilt from the store when the app starts, not by the first quota-checked
 * request (issue 18: at 10,000 S3 uploads that request waited 105 s and the idle timeout cut it).
 * A bucket holds 200 of alice's unfinished uploads; a tusport starts on it through a fault proxy
 * that holds the store listing (ListMultipartUploads) until the test lets it go. Meanwhile /readyz
 * says not ready, naming the quota counts, and a POST waits a bounded time, then gets 503
 * TUSPORT_ERR_QUOTA_REBUILDING with Retry-After and stores nothing. Once the listing goes on, a
 * POST that waited is accepted, /readyz is ready, and the limit (201) holds exactly.
 */
const info = ceph();
const SEEDED = 200;
const TOKENS = { alice: 'alice-warmup-token-0123456789', bob: 'bob-warmup-token-0123456789ab' };
const bearer = { type: 'bearer' as const, tokens: Object.entries(TOKENS).map(([id, token]) => ({ id, token })) };
type Who = keyof typeof TOKENS;

let redis: RunningRedis;
let proxy: FaultProxy | undefined;
let server: RunningTusport | undefined;
beforeAll(async () => {
  redis = await startRedis();
});
afterEach(async () => {
  await server?.close();
  await proxy?.close();
  server = undefined;
  proxy = undefined;
});
afterAll(async () => {
  await redis?.remove();
});

const create = (s: { url: string }, who: Who) =>
  raw(s.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10', Authorization: `Bearer ${TOKENS[who]}` } });
const openUploads = async (bucket: string) => (await listMultipartUploads(info, bucket)).filter((upload) => upload.Key?.startsWith('warm/')).length;
/** ListMultipartUploads of the bucket: how a store is listed for its quota counts. */
const listingOf = (bucket: string) => (request: IncomingMessage) => request.method === 'GET' && (request.url ?? '').startsWith(`/${bucket}/?`) && /[?&]uploads(=|&|$)/.test(request.url ?? '');

/** `count` unfinished uploads of alice's, made by a tusport without quotas, straight to RGW. */
async function seed(bucket: string, count = SEEDED): Promise<void> {
  const maker = await startTusport({ endpoints: [{ path: '/files', store: s3Store(info, bucket, { prefix: 'warm/' }), auth: bearer }] });
  try {
    for (let i = 0; i < count; i += 20) {
      const made = await Promise.all(Array.from({ length: Math.min(20, count - i) }, () => create(maker, 'alice')));
      expect(made.map((r) => r.status)).toEqual(Array(Math.min(20, count - i)).fill(201));
    }
  } finally {
    await maker.close();
  }
}

it.each([
  ['in this process (locker: memory)', () => ({})],
  ['in Redis (locker: redis)', () => ({ locker: { type: 'redis', url: redis.url, keyPrefix: `warm-${Date.now()}:` } })],
])('quota counts %s are rebuilt at start: /readyz not ready meanwhile, a POST gets 503 with Retry-After or waits, then the limit holds exactly', async (_where, locker) => {
  const bucket = await createTestBucket(info, 'quota-warmup');
  await seed(bucket);
  expect(await openUploads(bucket)).toBe(SEEDED);

  proxy = await startFaultProxy(info.endpoint);
  let release!: () => void;
  let listed!: () => void;
  const listing = new Promise<void>((resolve) => (listed = resolve));
  proxy.rules.push({ match: listingOf(bucket), action: { kind: 'hold', release: new Promise<void>((resolve) => (release = resolve)) }, onMatch: () => listed() });
  const { logger, lines } = capturingLogger('info');
  server = await startTusport(
    {
      ...locker(),
      endpoints: [{ path: '/files', store: s3Store({ ...info, endpoint: proxy.url }, bucket, { prefix: 'warm/' }), auth: bearer, policy: { quota: { maxUnfinishedUploads: SEEDED + 1 } } }],
    },
    { logger },
  );
  // The app started the rebuild by itself: its listing reaches S3 with no request made.
  await Promise.race([listing, sleep(20_000).then(() => Promise.reject(new Error('the app did not list the store for its quota counts when it started')))]);

  const unready = await raw(server.url, { method: 'GET', path: '/readyz' });
  expect(unready.status).toBe(503);
  expect(JSON.parse(unready.body.toString()).checks).toContainEqual({ name: 'quota counts /files', kind: 'quota', ok: false, error: 'unavailable; the cause is in the server log' });
  expect(lines.map((line) => line.msg)).toContain('readiness: quota counts /files is unavailable: the quota counts of /files are being rebuilt from the store (0 unfinished uploads counted so far)');

  // Still rebuilding after the bounded wait: 503 with a code and Retry-After, nothing stored.
  const refused = await create(server, 'alice');
  expect(refused.status).toBe(503);
  expect(refused.headers['retry-after']).toBe('5');
  expect(errorOf(refused)).toEqual({
    statusCode: 503,
    code: 'TUSPORT_ERR_QUOTA_REBUILDING',
    error: 'Service Unavailable',
    message: 'Quota counts are being rebuilt from the store (after a start, or Redis had none); retry in a few seconds',
  });
  expect(await openUploads(bucket)).toBe(SEEDED);
  // A planned refusal is a warning in the log, not a failure (a busy restart would bury real errors).
  expect(lines.filter((line) => line.msg === 'request refused for now (Retry-After)')).toMatchObject([{ level: 40, code: 'TUSPORT_ERR_QUOTA_REBUILDING', status: 503 }]);
  expect(lines.filter((line) => line.msg === 'request failed')).toEqual([]);

  // A POST waiting when the listing goes on is taken: alice's 201st upload.
  const waiting = create(server, 'alice');
  release();
  expect((await waiting).status).toBe(201);
  await until(async () => (await raw(server!.url, { method: 'GET', path: '/readyz' })).status === 200, '/readyz to be ready', 20_000);

  // Counted exactly: alice is at her limit, bob has all of his.
  const over = await create(server, 'alice');
  expect(over.status).toBe(429);
  expect(errorOf(over)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS' });
  expect((await create(server, 'bob')).status).toBe(201);
  expect(await openUploads(bucket)).toBe(SEEDED + 2);
});

it('a listing that fails at start (its S3 connection cut) is tried again: /readyz not ready until it succeeds, then the limit holds exactly', async () => {
  const bucket = await createTestBucket(info, 'quota-warmup');
  await seed(bucket, 3);
  proxy = await startFaultProxy(info.endpoint);
  let cuts = 0;
  proxy.rules.push({ match: listingOf(bucket), action: { kind: 'cut' }, onMatch: () => (cuts += 1) });
  server = await startTusport({
    endpoints: [{ path: '/files', store: s3Store({ ...info, endpoint: proxy.url }, bucket, { prefix: 'warm/' }), auth: bearer, policy: { quota: { maxUnfinishedUploads: 4 } } }],
  });
  await until(() => cuts > 0, 'the listing at start to be cut', 20_000);
  const unready = await raw(server.url, { method: 'GET', path: '/readyz' });
  expect(unready.status).toBe(503);
  expect(JSON.parse(unready.body.toString()).checks).toContainEqual({ name: 'quota counts /files', kind: 'quota', ok: false, error: 'unavailable; the cause is in the server log' });

  // S3 answers again: the next probe lists the store again.
  proxy.rules.length = 0;
  await until(async () => (await raw(server!.url, { method: 'GET', path: '/readyz' })).status === 200, '/readyz to be ready', 30_000);
  expect((await create(server, 'alice')).status).toBe(201);
  const over = await create(server, 'alice');
  expect(over.status).toBe(429);
  expect(errorOf(over)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS' });
  expect(await openUploads(bucket)).toBe(4);
});
