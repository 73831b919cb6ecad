import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { createTestBucket, listAllKeys, removeTestBucket } from '../harness/ceph.js';
import { DirectClient } from '../helpers/direct-client.js';
import { raw } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';
import { ceph, objectBytes, PART, s3Store, sha256 } from './lib.js';

/**
 * Direct-to-S3 uploads on an endpoint with `claim`, driven as `@uppy/aws-s3` drives the routes:
 * the finished upload waits unclaimed (complete and checked, not finalized, no post-finish, still
 * holding its owner's quota slot), then a claim finalizes it whole and announces it once.
 */
const info = ceph();
const ALICE = 'alice-direct-claim-token-012345';
const BOB = 'bob-direct-claim-token-0123456';
const auth = { type: 'bearer' as const, tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] };
const bearer = { authorization: `Bearer ${ALICE}` };

let bucket: string;
let server: RunningTusport;
const finished: HookRequest[] = [];
const alice = () => new DirectClient(`${server.url}/forms`, bearer);
const sidecarOf = async (key: string) => JSON.parse((await objectBytes(info, bucket, `${key}.info`)).toString()) as Record<string, any>;
const claim = (id: string, headers = bearer) => raw(server.url, { method: 'POST', path: `/forms/${id}/claim`, headers });
const announced = (id: string) => finished.filter((request) => request.Event.Upload.ID === id).length;

beforeAll(async () => {
  bucket = await createTestBucket(info, 'direct-claim');
  const hooks = [{ type: 'function' as const, handlers: { 'post-finish': async (request: HookRequest) => void finished.push(request) } }];
  server = await startTusport({
    endpoints: [
      {
        path: '/forms',
        store: s3Store(info, bucket, { prefix: 'forms/' }),
        auth,
        direct: true,
        claim: { ttl: '1h' },
        finalize: { path: 'final/{id}-{filename}' },
        policy: { quota: { maxUnfinishedUploads: 1 } },
        hooks,
      },
    ],
  });
});
afterAll(async () => {
  await server?.close();
  if (bucket) await removeTestBucket(info, bucket);
});

describe('direct upload on a claim endpoint', () => {
  it('a multipart upload waits unclaimed, holding its quota slot, then is claimed whole: finalized byte-identical, post-finish once', async () => {
    const data = randomBytes(PART + 4321);
    const created = await alice().create('scan.pdf', 'application/pdf', { form: 'signup' });
    expect(created.status, created.text).toBe(200);
    const { key, uploadId, id } = created.body;
    const done = await alice().uploadMultipart(uploadId, key, data, PART);
    expect(done.status, done.text).toBe(200);

    // Finished and checked, but waiting: not moved, not announced.
    const waiting = await sidecarOf(key);
    expect(waiting.tusport).toMatchObject({ direct: 'multipart', completion: 'unclaimed' });
    expect(waiting.size).toBe(data.length);
    expect(await listAllKeys(info, bucket, `forms/final/${id}`)).toEqual([]);
    expect(announced(id)).toBe(0);
    // Still its owner's one unfinished slot: the next direct upload is refused, and nothing is made.
    const keysBefore = await listAllKeys(info, bucket);
    const refused = await alice().create('other.pdf', 'application/pdf');
    expect(refused.status, refused.text).toBe(429);
    expect(refused.body).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS', message: expect.stringMatching(/at most 1 unfinished uploads/) });
    expect(await listAllKeys(info, bucket)).toEqual(keysBefore);

    const claimed = await claim(id);
    expect(claimed.status, claimed.body).toBe(200);
    const answer = JSON.parse(claimed.body);
    expect(answer).toMatchObject({ id, size: data.length, location: `final/${id}-scan.pdf`, claimedBy: 'alice', metadata: expect.objectContaining({ form: 'signup' }) });
    expect(sha256(await objectBytes(info, bucket, `forms/final/${id}-scan.pdf`))).toBe(sha256(data));
    expect((await listAllKeys(info, bucket)).filter((k) => k === key)).toEqual([]);
    await until(() => announced(id) === 1, 'post-finish after the claim');
    expect(finished.find((request) => request.Event.Upload.ID === id)?.Event.Upload).toMatchObject({ Size: data.length, Offset: data.length });

    // Claimed, it gave its slot back; a repeated claim answers the same and announces nothing more.
    expect((await alice().create('next.pdf', 'application/pdf')).status).toBe(200);
    const again = await claim(id);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)).toEqual(answer);
    expect(announced(id)).toBe(1);
  });

  it('a presigned POST completed by its client waits unclaimed too; someone else cannot claim it, its owner can', async () => {
    const bob = { authorization: `Bearer ${BOB}` };
    const client = new DirectClient(`${server.url}/forms`, bob);
    const data = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');
    const params = await client.params('form.pdf', 'application/pdf');
    expect(params.status, params.text).toBe(200);
    const { url, fields, key, id } = params.body;
    expect((await client.postForm(url, fields, data)).status).toBeLessThan(300);
    const done = await client.completePost(id);
    expect(done.status, done.text).toBe(200);
    expect((await sidecarOf(key)).tusport).toMatchObject({ direct: 'post', completion: 'unclaimed' });
    expect(announced(id)).toBe(0);

    const foreign = await claim(id);
    expect(foreign.status, foreign.body).toBe(404);
    expect((await sidecarOf(key)).tusport.completion).toBe('unclaimed');
    const claimed = await claim(id, bob);
    expect(claimed.status, claimed.body).toBe(200);
    expect(JSON.parse(claimed.body)).toMatchObject({ id, size: data.length, location: `final/${id}-form.pdf`, claimedBy: 'bob' });
    expect(sha256(await objectBytes(info, bucket, `forms/final/${id}-form.pdf`))).toBe(sha256(data));
    await until(() => announced(id) === 1, 'post-finish after the claim');
  });
});
