import { Redis } from 'ioredis';
import { afterEach, beforeAll, afterAll, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { createUpload } from '../helpers/http.js';
import { startTusport, tempDir } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { SIDECARS_AT_ONCE } from '../../src/stores/s3/sweep.js';
import { ceph, s3Store } from './lib.js';

/**
 * The sweep lease (issue 12): with `locker.type: redis`, one instance at a time sweeps a store;
 * the others skip the round (logged at debug). Each test first fills its own prefix with expired
 * unfinished uploads through a tusport of its own (so all of them are expired when the fleet's
 * first sweep looks), then starts three `tusport serve` sweeping every second, and reads what
 * each did from its debug log.
 */
const info = ceph();
const COUNT = 24;
/**
 * The takeover test's uploads: enough that the victim is killed mid-sweep. It sweeps
 * SIDECARS_AT_ONCE at a time, so with 24 it had often removed them all before the kill landed.
 */
const TAKEOVER_COUNT = 5 * SIDECARS_AT_ONCE;
const EXPIRE_MS = 1_500;

let redis: RunningRedis;
let client: Redis;
let bucket: string;
let fleet: Fleet | undefined;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  bucket = await createTestBucket(info, 'fleet-sweep');
});
afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  client?.disconnect();
  await redis?.remove();
});

const endpoint = (prefix: string) => ({ path: '/files', store: s3Store(info, bucket, { prefix }), expire: EXPIRE_MS });

/** `count` unfinished uploads under `prefix`, made by a tusport of the test's own; resolves once all have expired. */
async function expiredUploads(prefix: string, count = COUNT): Promise<string[]> {
  const maker = await startTusport({ endpoints: [endpoint(prefix)] });
  try {
    const paths = await Promise.all(Array.from({ length: count }, () => createUpload(maker.url, '/files', { 'Upload-Length': 100 })));
    await new Promise((resolve) => setTimeout(resolve, EXPIRE_MS + 100));
    return paths.map((p) => p.slice('/files/'.length));
  } finally {
    await maker.close();
  }
}

async function sweepingFleet(prefix: string): Promise<Fleet> {
  const scratch = await tempDir('tusport-fleet-sweep-');
  cleanups.push(scratch.remove);
  fleet = await startFleet({
    size: 3,
    dir: scratch.dir,
    config: { server: { cleanupInterval: 1_000, logLevel: 'debug' }, locker: { type: 'redis', url: redis.url, keyPrefix: `${prefix}:` }, endpoints: [endpoint(prefix)] },
  });
  return fleet;
}

interface Line {
  time: number;
  msg: string;
  uploadId?: string;
  endpoint?: string;
}
const linesOf = (log: string): Line[] =>
  log
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Line);
const removals = (lines: Line[]) => lines.filter((line) => line.msg === 'expired unfinished upload removed').map((line) => line.uploadId!);

/** Each instance's sweeps of the store as [took the lease, released it] times (an unfinished one ends at Infinity). */
function sweepsOf(lines: Line[]): [number, number][] {
  const spans: [number, number][] = [];
  for (const line of lines) {
    if (line.msg === 'store sweep: this instance took the sweep lease') spans.push([line.time, Number.POSITIVE_INFINITY]);
    if (line.msg === 'store sweep done; releasing the sweep lease') spans[spans.length - 1]![1] = line.time;
  }
  return spans;
}

const openUploads = async (prefix: string) => (await listMultipartUploads(info, bucket)).filter((upload) => upload.Key?.startsWith(prefix)).length;

it('three instances, a sweep every second: every expired upload removed exactly once, and never two instances sweeping the store at once', async () => {
  const ids = await expiredUploads('once/');
  const { instances } = await sweepingFleet('once');
  await until(async () => (await openUploads('once/')) === 0, 'the fleet to sweep every expired upload', 60_000);
  // A few more rounds of all three, to see them take turns.
  await until(() => instances.every((instance) => sweepsOf(linesOf(instance.log())).length >= 3), 'each instance to sweep three times', 30_000);

  const logs = instances.map((instance) => linesOf(instance.log()));
  const removed = logs.flatMap(removals);
  expect(removed.sort()).toEqual([...ids].sort());
  expect(await listAllKeys(info, bucket, 'once/')).toEqual([]);
  // No two sweeps of different instances overlap in time.
  const spans = logs.flatMap((lines, instance) => sweepsOf(lines).map(([from, to]) => ({ instance, from, to })));
  for (const a of spans) {
    for (const b of spans) {
      if (a.instance < b.instance) expect(a.to < b.from || b.to < a.from, `sweeps of instances ${a.instance} and ${b.instance} overlap`).toBe(true);
    }
  }
  // Nobody's lease lapsed while it swept (the one way two sweeps could overlap).
  expect(logs.flat().filter((line) => line.msg.startsWith('the sweep lease lapsed'))).toEqual([]);
  const skipped = logs.map((lines) => lines.filter((line) => line.msg.startsWith('store sweep skipped: another instance holds the sweep lease')).length);
  console.log(`[fleet-sweep] ${spans.length} sweeps, skipped rounds per instance: ${skipped.join(', ')}; removals per instance: ${logs.map((l) => removals(l).length).join(', ')}`);
});

it('the sweeping instance SIGKILLed mid-sweep: its lease lapses, another instance takes over and removes the rest, each upload once', async () => {
  const ids = await expiredUploads('takeover/', TAKEOVER_COUNT);
  const running = await sweepingFleet('takeover');
  // Kill whichever instance removes the first upload, at once: it dies holding the lease.
  let victim = -1;
  await until(() => (victim = running.instances.findIndex((instance) => removals(linesOf(instance.log())).length > 0)) >= 0, 'a first removal', 30_000);
  await running.kill(victim);
  const killedAt = Date.now();
  const orphanTtl = await client.pttl('takeover:sweep:%2Ffiles');

  await until(async () => (await openUploads('takeover/')) === 0, 'the other instances to sweep the rest', 60_000);
  // Those the victim was removing when it died (at most SIDECARS_AT_ONCE: S3 finishes requests
  // already sent) may be gone unlogged, or half-removed (the others abort those as leftovers). The
  // others log a removal after its last S3 step: the bucket can be empty a moment before their
  // last lines are, so wait for the lines rather than read them at once.
  const logsOf = () => running.instances.map((instance) => linesOf(instance.log()));
  const accounted = () => logsOf().flatMap((lines) => lines.filter((line) => line.msg === 'expired unfinished upload removed' || line.msg === 'multipart upload without a sidecar aborted')).length;
  await until(() => accounted() >= TAKEOVER_COUNT - SIDECARS_AT_ONCE, 'all but the victim\'s last batch logged as removed', 10_000);
  const removedByVictim = removals(logsOf()[victim]!);
  expect(removedByVictim.length).toBeLessThan(TAKEOVER_COUNT);
  const others = logsOf().filter((_, i) => i !== victim);
  const removed = [...removedByVictim, ...others.flatMap(removals)];
  // Each upload once.
  expect(new Set(removed).size).toBe(removed.length);
  for (const id of removed) expect(ids).toContain(id);
  expect(await listAllKeys(info, bucket, 'takeover/')).toEqual([]);
  // Killed holding the lease: nobody took the store over before the lease ran out.
  if (orphanTtl > 0) {
    const takeovers = others.flatMap(sweepsOf).map(([from]) => from).filter((from) => from > killedAt);
    expect(Math.min(...takeovers)).toBeGreaterThanOrEqual(killedAt + orphanTtl - 200);
  }
  console.log(`[fleet-sweep] killed instance ${victim} after ${removedByVictim.length} removals; its lease had ${orphanTtl} ms left; the others removed ${others.flatMap(removals).length}`);
}, 120_000);
