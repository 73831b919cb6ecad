import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { createTestBucket, listMultipartUploads } from '../harness/ceph.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { errorOf, patch, raw, type RawResponse, TUS } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';
import { ceph, s3Store } from './lib.js';

/**
 * Quotas shared by a fleet (issue 12): three `tusport serve` processes on one S3 bucket and one
 * Redis (`locker.type: redis`). Requests are spread round-robin over the three, all at once:
 * the limits hold across the fleet (exactly as many accepted as the quota allows, the others
 * 429/413 with the quota's message, nothing stored for them), and after a FLUSHALL the counts are
 * rebuilt from the bucket once, by one instance, while requests arrive on all three.
 */
const info = ceph();
const TOKENS = { alice: 'alice-fleet-token-0123456789', bob: 'bob-fleet-token-0123456789ab', carol: 'carol-fleet-token-0123456789' };
type Who = keyof typeof TOKENS;
const auth = (who: Who) => ({ Authorization: `Bearer ${TOKENS[who]}` });
const bearer = { type: 'bearer', tokens: Object.entries(TOKENS).map(([id, token]) => ({ id, token })) };

let redis: RunningRedis;
let client: Redis;
let fleet: Fleet;
let bucket: string;
let scratch: Awaited<ReturnType<typeof tempDir>>;

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url);
  bucket = await createTestBucket(info, 'fleet-quota');
  scratch = await tempDir('tusport-fleet-quota-');
  fleet = await startFleet({
    size: 3,
    dir: scratch.dir,
    config: {
      locker: { type: 'redis', url: redis.url },
      endpoints: [
        // One endpoint (and prefix) per test, so no test sees another's uploads.
        { path: '/files', store: s3Store(info, bucket, { prefix: 'files/' }), auth: bearer, policy: { quota: { maxUnfinishedUploads: 3 } } },
        { path: '/bytes', store: s3Store(info, bucket, { prefix: 'bytes/' }), auth: bearer, policy: { quota: { maxBytesInFlight: 1000 } } },
        { path: '/rebuild', store: s3Store(info, bucket, { prefix: 'rebuild/' }), auth: bearer, policy: { quota: { maxUnfinishedUploads: 3 } } },
      ],
    },
  });
});
afterAll(async () => {
  await fleet?.stop();
  client?.disconnect();
  await redis?.remove();
  await scratch?.remove();
});

/** `count` POSTs at once, the i-th to instance i mod 3. */
function createAll(count: number, who: Who, path: string, length: number): Promise<RawResponse[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      raw(fleet.instances[i % fleet.instances.length]!.url, { method: 'POST', path, headers: { ...TUS, 'Upload-Length': String(length), ...auth(who) } }),
    ),
  );
}

/** The "quota counts rebuilt" log lines of an endpoint in an instance's JSON log. */
function rebuildsOf(log: string, endpoint: string): Record<string, unknown>[] {
  return log
    .split('\n')
    .filter((line) => line.includes('quota counts rebuilt from the store'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => line.endpoint === endpoint);
}

const statuses = (responses: RawResponse[]) => responses.map((r) => r.status).sort();
const openUploads = async (prefix: string) => (await listMultipartUploads(info, bucket)).filter((upload) => upload.Key?.startsWith(prefix)).length;

describe('quotas across three instances', () => {
  it('50 parallel POSTs over 3 instances against maxUnfinishedUploads 3: exactly 3 accepted, 47 refused 429 with the quota message, only 3 uploads in the bucket', async () => {
    const responses = await createAll(50, 'alice', '/files', 10);
    expect(statuses(responses)).toEqual([...Array(3).fill(201), ...Array(47).fill(429)]);
    for (const refused of responses.filter((r) => r.status === 429)) {
      expect(errorOf(refused)).toEqual({ code: 'TUSPORT_ERR_QUOTA_UPLOADS', message: 'Quota reached: at most 3 unfinished uploads at a time; finish or delete one first', statusCode: 429, error: 'Too Many Requests' });
    }
    expect(await openUploads('files/')).toBe(3);
    // Another principal's quota is their own.
    expect(statuses(await createAll(6, 'bob', '/files', 10))).toEqual([201, 201, 201, 429, 429, 429]);

    // Finishing one of alice's uploads on one instance frees her slot on every instance.
    const accepted = responses.filter((r) => r.status === 201).map((r) => new URL(String(r.headers.location)).pathname);
    expect((await patch(fleet.instances[1]!.url, accepted[0]!, 0, randomBytes(10), auth('alice'))).status).toBe(204);
    expect(statuses(await createAll(9, 'alice', '/files', 10))).toEqual([201, ...Array(8).fill(429)]);
  });

  it('maxBytesInFlight across instances: 30 parallel POSTs of 100 bytes against 1000 → exactly 10 accepted, the others 413 with the quota message', async () => {
    const responses = await createAll(30, 'alice', '/bytes', 100);
    expect(statuses(responses)).toEqual([...Array(10).fill(201), ...Array(20).fill(413)]);
    for (const refused of responses.filter((r) => r.status === 413)) {
      expect(errorOf(refused)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_BYTES', message: 'Quota reached: unfinished uploads may add up to 1000 bytes; this one would make 1100' });
    }
    expect(await openUploads('bytes/')).toBe(10);
  });

  it('after FLUSHALL the counts are rebuilt from the bucket, by one instance, while POSTs arrive on all three: the existing uploads still count', async () => {
    expect(statuses(await createAll(2, 'carol', '/rebuild', 10))).toEqual([201, 201]);
    expect(statuses(await createAll(3, 'bob', '/rebuild', 10))).toEqual([201, 201, 201]);
    const rebuilds = () => fleet.instances.map((instance) => rebuildsOf(instance.log(), '/rebuild'));
    const before = rebuilds();
    expect(await client.flushall()).toBe('OK');

    // carol has 2 of 3 in the bucket: of 12 at once, on three instances, exactly one more fits.
    const responses = await createAll(12, 'carol', '/rebuild', 10);
    expect(statuses(responses)).toEqual([201, ...Array(11).fill(429)]);
    expect(await client.hlen('tusport:quota:%2Frebuild:carol')).toBe(3);
    // bob's uploads were rebuilt too: still at his limit.
    expect(statuses(await createAll(3, 'bob', '/rebuild', 10))).toEqual([429, 429, 429]);
    expect(await openUploads('rebuild/')).toBe(6);
    // One instance rebuilt the counts of /rebuild (all 5 uploads); the others waited for it.
    const after = rebuilds();
    const fresh = after.flatMap((lines, i) => lines.slice(before[i]!.length));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ uploads: 5 });
  });
});
