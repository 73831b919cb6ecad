import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { createTestBucket, listAllKeys, listMultipartUploads, removeTestBucket, s3Client } from '../harness/ceph.js';
import { DirectClient } from '../helpers/direct-client.js';
import { until } from '../helpers/wait.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { ceph, MiB, objectBytes, PART, s3Store, sha256 } from './lib.js';

/**
 * Direct-to-S3 uploads driven from Node exactly as `@uppy/aws-s3` drives them (Companion routes,
 * presigned POST and multipart), against the shared RGW: the bytes never pass through tusport,
 * which signs, checks, records and finishes them like tus uploads.
 */
const info = ceph();
const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef0';
const auth = { type: 'bearer' as const, tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] };
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const announced = (id: string) => finished.filter((request) => request.Event.Upload.ID === id).length;
/** post-finish goes through the durable outbox after the answer: wait for its delivery, not the response. */
const deliveredOnce = (id: string) => until(() => announced(id) >= 1, `post-finish of ${id}`);

let bucket: string;
let server: RunningTusport;
const finished: HookRequest[] = [];
const alice = () => new DirectClient(`${server.url}/files`, bearer(ALICE));
const bob = () => new DirectClient(`${server.url}/files`, bearer(BOB));
const userClient = (user: string, token: string) => new DirectClient(`${server.url}/users/${user}/uploads`, bearer(token));

async function sidecarOf(key: string): Promise<Record<string, any>> {
  return JSON.parse((await objectBytes(info, bucket, `${key}.info`)).toString());
}

beforeAll(async () => {
  bucket = await createTestBucket(info, 'direct');
  const hooks = [{ type: 'function' as const, handlers: { 'post-finish': async (request: HookRequest) => void finished.push(request) } }];
  server = await startTusport({
    endpoints: [
      { path: '/files', store: s3Store(info, bucket, { prefix: 'shared/' }), auth, direct: true, maxSize: 12 * MiB, hooks, expire: '1h' },
      {
        path: '/users/{username}/uploads',
        store: s3Store(info, bucket, { prefix: 'users/{username}/' }),
        auth: { ...auth, bind: { username: 'sub' } },
        direct: { urlLifetime: '2s', partSize: '6MiB' },
        policy: { accept: ['text/plain', 'image/*'] },
        maxSize: 1 * MiB,
        hooks,
      },
      { path: '/quota', store: s3Store(info, bucket, { prefix: 'quota/' }), auth, direct: true, policy: { quota: { maxUnfinishedUploads: 1 } } },
    ],
  });
});
afterAll(async () => {
  await server?.close();
  if (bucket) await removeTestBucket(info, bucket);
});

describe('direct multipart upload (the routes as @uppy/aws-s3 calls them)', () => {
  it('uploads straight to S3 in parts, resumes from the listed parts, completes: byte-identical, sidecar recorded, post-finish delivered', async () => {
    const data = randomBytes(2 * PART + 1234);
    const created = await alice().create('movie.bin', 'application/octet-stream', { name: 'movie.bin', note: 'x' });
    expect(created.status, created.text).toBe(200);
    const { key, uploadId, id } = created.body;
    // tusport chose the key: the store prefix and a fresh id, whatever the client called the file.
    expect(key).toBe(`shared/${id}`);
    expect(created.body.bucket).toBe(bucket);
    // No direct.partSize here: the advice is the store's partSize.
    expect(created.body.partSize).toBe(PART);
    const sidecar = await sidecarOf(key);
    expect(sidecar.tusport).toMatchObject({ owner: 'alice', direct: 'multipart', endpoint: '/files' });
    expect(sidecar.metadata).toMatchObject({ filename: 'movie.bin', filetype: 'application/octet-stream', note: 'x' });

    // The first part only, then "the tab was closed": a fresh client asks which parts S3 has.
    const first = await alice().signPart(uploadId, key, 1);
    expect(first.status, first.text).toBe(200);
    const put = await alice().putPart(first.body.url, data.subarray(0, PART));
    expect(put.status, put.text).toBe(200);
    const listed = await alice().listParts(uploadId, key);
    expect(listed.status).toBe(200);
    expect(listed.body).toEqual([{ PartNumber: 1, ETag: put.etag, Size: PART }]);

    const parts = [{ PartNumber: 1, ETag: String(put.etag) }];
    for (const n of [2, 3]) {
      const signed = await alice().signPart(uploadId, key, n);
      const sent = await alice().putPart(signed.body.url, data.subarray((n - 1) * PART, n * PART));
      expect(sent.status, sent.text).toBe(200);
      parts.push({ PartNumber: n, ETag: String(sent.etag) });
    }
    const done = await alice().complete(uploadId, key, parts);
    expect(done.status, done.text).toBe(200);
    expect(done.body).toEqual({ location: `${server.url}/files/${id}`, key, bucket, id });
    expect(sha256(await objectBytes(info, bucket, key))).toBe(sha256(data));
    const after = await sidecarOf(key);
    expect(after.size).toBe(data.length);
    expect(after.tusport.completion).toBe('notified');
    expect(typeof after.tusport.completed_at).toBe('string');
    await deliveredOnce(id);
    const hook = finished.find((request) => request.Event.Upload.ID === id);
    expect(hook?.Event.Upload).toMatchObject({ Size: data.length, Offset: data.length, MetaData: expect.objectContaining({ filename: 'movie.bin' }) });
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === key)).toEqual([]);

    // Asking again answers the same, and nothing is sent twice.
    const again = await alice().complete(uploadId, key, parts);
    expect(again.status, again.text).toBe(200);
    expect(again.body).toEqual(done.body);
    expect(finished.filter((request) => request.Event.Upload.ID === id)).toHaveLength(1);
  });

  it('someone else\'s upload does not exist: bob cannot sign, list, complete or abort alice\'s (404), and it stays intact', async () => {
    const created = await alice().create('mine.bin', 'application/octet-stream');
    const { key, uploadId } = created.body;
    const signed = await alice().signPart(uploadId, key, 1);
    const put = await alice().putPart(signed.body.url, randomBytes(PART));
    const parts = [{ PartNumber: 1, ETag: String(put.etag) }];
    for (const answer of [
      await bob().signPart(uploadId, key, 2),
      await bob().listParts(uploadId, key),
      await bob().complete(uploadId, key, parts),
      await bob().abort(uploadId, key),
    ]) {
      expect(answer.status, answer.text).toBe(404);
      expect(answer.body).toMatchObject({ code: 'TUSPORT_ERR_NOT_FOUND' });
    }
    // A key tusport never handed out, or alice's key with another multipart id: 404 as well.
    expect((await alice().signPart(uploadId, 'shared/../users/x', 1)).status).toBe(404);
    expect((await alice().signPart('not-the-id', key, 1)).status).toBe(404);
    expect((await alice().listParts(uploadId, key)).body).toEqual([{ PartNumber: 1, ETag: put.etag, Size: PART }]);
    // Her own abort removes everything: the multipart upload and the sidecar.
    const aborted = await alice().abort(uploadId, key);
    expect(aborted.status, aborted.text).toBe(200);
    expect(aborted.body).toEqual({});
    expect((await listAllKeys(info, bucket, key)).sort()).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === key)).toEqual([]);
  });

  it('a key is always under the principal\'s prefix, and a principal cannot use another user\'s URL (403)', async () => {
    const created = await userClient('alice', ALICE).create('a.txt', 'text/plain');
    expect(created.status, created.text).toBe(200);
    expect(created.body.key).toBe(`users/alice/${created.body.id}`);
    expect(created.body.partSize).toBe(6 * MiB); // direct.partSize
    const refused = await userClient('alice', BOB).create('a.txt', 'text/plain');
    expect(refused.status).toBe(403);
    const anonymous = await new DirectClient(`${server.url}/users/alice/uploads`).create('a.txt', 'text/plain');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ code: expect.stringMatching(/^TUSPORT_ERR_/) });
    await userClient('alice', ALICE).abort(created.body.uploadId, created.body.key);
  });

  it('every route needs the endpoint\'s auth: without a token each is 401 with a named code, and nothing is made, signed or removed', async () => {
    const created = await alice().create('guarded.bin', 'application/octet-stream');
    const { key, uploadId, id } = created.body;
    const signed = await alice().signPart(uploadId, key, 1);
    const put = await alice().putPart(signed.body.url, randomBytes(PART));
    const keysBefore = (await listAllKeys(info, bucket, 'shared/')).sort();
    const nobody = new DirectClient(`${server.url}/files`);
    const answers = {
      params: await nobody.params('x.txt', 'text/plain'),
      completePost: await nobody.completePost(id),
      create: await nobody.create('x.bin', 'application/octet-stream'),
      listParts: await nobody.listParts(uploadId, key),
      signPart: await nobody.signPart(uploadId, key, 2),
      complete: await nobody.complete(uploadId, key, [{ PartNumber: 1, ETag: String(put.etag) }]),
      abort: await nobody.abort(uploadId, key),
    };
    for (const [route, answer] of Object.entries(answers)) {
      expect(answer.status, `${route}: ${answer.text}`).toBe(401);
      expect(answer.body, route).toMatchObject({ code: 'TUSPORT_ERR_UNAUTHORIZED' });
    }
    expect((await listAllKeys(info, bucket, 'shared/')).sort()).toEqual(keysBefore);
    expect((await sidecarOf(key)).tusport.completed_at).toBeUndefined();
    expect((await alice().listParts(uploadId, key)).body).toEqual([{ PartNumber: 1, ETag: put.etag, Size: PART }]);
    await alice().abort(uploadId, key);
  });

  it('a direct upload is an upload of the files API: listed unfinished from its creation, then finished with its size', async () => {
    const list = async () => {
      const response = await fetch(`${server.url}/files?limit=1000`, { headers: bearer(ALICE) });
      expect(response.status).toBe(200);
      return ((await response.json()) as { uploads: { id: string; complete: boolean; size: number | null; filename: string }[] }).uploads;
    };
    const created = await alice().create('listed.bin', 'application/octet-stream');
    const { key, uploadId, id } = created.body;
    expect((await list()).find((upload) => upload.id === id)).toMatchObject({ complete: false, filename: 'listed.bin' });
    const data = randomBytes(PART + 10);
    expect((await alice().uploadMultipart(uploadId, key, data, PART)).status).toBe(200);
    expect((await list()).find((upload) => upload.id === id)).toMatchObject({ complete: true, size: data.length });
    // Bob's listing does not show it.
    const bobs = await fetch(`${server.url}/files?limit=1000`, { headers: bearer(BOB) });
    expect(((await bobs.json()) as { uploads: { id: string }[] }).uploads.some((upload) => upload.id === id)).toBe(false);
  });

  it('more bytes than maxSize: complete answers 413 with the reason, and the upload is gone from the bucket', async () => {
    const created = await alice().create('big.bin', 'application/octet-stream');
    const { key, uploadId, id } = created.body;
    const data = randomBytes(2 * PART + 3 * MiB); // 13 MiB > 12 MiB
    const done = await alice().uploadMultipart(uploadId, key, data, PART);
    expect(done.status, done.text).toBe(413);
    expect(done.body).toMatchObject({ code: 'TUSPORT_ERR_DIRECT_TOO_LARGE' });
    expect(String((done.body as unknown as { message: string }).message)).toContain(`${data.length} bytes`);
    expect(await listAllKeys(info, bucket, key)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === key)).toEqual([]);
    expect(finished.some((request) => request.Event.Upload.ID === id)).toBe(false);
  });

  it('bad requests are 400 with a named code and change nothing', async () => {
    const created = await alice().create('b.bin', 'application/octet-stream');
    const { key, uploadId } = created.body;
    for (const n of ['0', '10001', 'x', '1.5']) {
      const answer = await alice().signPart(uploadId, key, n);
      expect(answer.status, n).toBe(400);
      expect(answer.body).toMatchObject({ code: 'TUSPORT_ERR_DIRECT_PART_NUMBER' });
    }
    const noParts = await alice().complete(uploadId, key, []);
    expect(noParts.status).toBe(400);
    expect(noParts.body).toMatchObject({ code: 'TUSPORT_ERR_DIRECT_BAD_REQUEST' });
    // A part S3 never got: S3 refuses, tusport says why, the upload stays resumable.
    const wrong = await alice().complete(uploadId, key, [{ PartNumber: 1, ETag: '"0123456789abcdef0123456789abcdef"' }]);
    expect(wrong.status, wrong.text).toBe(400);
    expect(wrong.body).toMatchObject({ code: 'TUSPORT_ERR_DIRECT_PARTS' });
    expect((await alice().listParts(uploadId, key)).status).toBe(200);
    await alice().abort(uploadId, key);
  });

  it('a forged or expired part URL, or an expired presigned form, is refused by S3 (403) and stores nothing', async () => {
    const client = userClient('alice', ALICE);
    const created = await client.create('c.txt', 'text/plain');
    const { key, uploadId } = created.body;
    const signed = await client.signPart(uploadId, key, 1);
    const form = await client.params('d.txt', 'text/plain');
    const url = new URL(signed.body.url);
    const signature = url.searchParams.get('X-Amz-Signature') ?? '';
    url.searchParams.set('X-Amz-Signature', signature.replace(/^./, (c) => (c === '0' ? '1' : '0')));
    expect((await client.putPart(url.href, randomBytes(1024))).status).toBe(403);
    // Another part number under the same signature: forged too.
    const other = new URL(signed.body.url);
    other.searchParams.set('partNumber', '2');
    expect((await client.putPart(other.href, randomBytes(1024))).status).toBe(403);
    // This endpoint's URLs live 2 s: wait them out (S3's clock, not ours, decides).
    await new Promise((resolve) => setTimeout(resolve, 3500));
    const expired = await client.putPart(signed.body.url, randomBytes(1024));
    expect(expired.status, expired.text).toBe(403);
    const expiredForm = await client.postForm(form.body.url, form.body.fields, Buffer.from('late'));
    expect(expiredForm.status, expiredForm.text).toBe(403);
    expect(expiredForm.text).toContain('AccessDenied');
    expect((await listAllKeys(info, bucket, form.body.key)).sort()).toEqual([`${form.body.key}.info`]);
    expect((await client.listParts(uploadId, key)).body).toEqual([]);
    await client.abort(uploadId, key);
  });

  it('expired unfinished direct uploads are aborted by the sweep, sidecar and all', async () => {
    const created = await alice().create('stale.bin', 'application/octet-stream');
    const { key, uploadId } = created.body;
    const signed = await alice().signPart(uploadId, key, 1);
    await alice().putPart(signed.body.url, randomBytes(PART));
    const result = await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
    expect(result.expired).toBeGreaterThanOrEqual(1);
    expect(await listAllKeys(info, bucket, key)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === key)).toEqual([]);
    const late = await alice().signPart(uploadId, key, 2);
    expect(late.status).toBe(404);
  });
});

describe('direct presigned POST', () => {
  it('uploads a small file with the presigned form, then completes: byte-identical, sidecar recorded, post-finish delivered', async () => {
    const data = Buffer.from('hello from a presigned POST\n'.repeat(50));
    const params = await alice().params('hello.txt', 'text/plain', { name: 'hello.txt' });
    expect(params.status, params.text).toBe(200);
    const { url, fields, key, id, method } = params.body;
    expect(method).toBe('POST');
    expect(url.endsWith(`/${bucket}/`)).toBe(true);
    // The form writes a staging key beside the upload's (S3 takes a form again until it expires).
    expect(key).toBe(`shared/${id}`);
    expect(fields.key).toBe(`${key}.post`);
    // Not there yet: completing now is a clear 409.
    const early = await alice().completePost(id);
    expect(early.status).toBe(409);
    expect(early.body).toMatchObject({ code: 'TUSPORT_ERR_DIRECT_NOT_UPLOADED' });
    const posted = await alice().postForm(url, fields, data);
    expect(posted.status, posted.text).toBeLessThan(300);
    expect((await bob().completePost(id)).status).toBe(404);
    const done = await alice().completePost(id);
    expect(done.status, done.text).toBe(200);
    expect(done.body).toEqual({ location: `${server.url}/files/${id}`, key, bucket, id });
    expect(sha256(await objectBytes(info, bucket, key))).toBe(sha256(data));
    // No accept list here, but the declared type is still held by the policy and kept on the object.
    expect(fields['Content-Type']).toBe('text/plain');
    expect((await s3Client(info).headObject({ Bucket: bucket, Key: key })).ContentType).toBe('text/plain');
    expect((await sidecarOf(key)).tusport).toMatchObject({ owner: 'alice', direct: 'post', completion: 'notified' });
    await deliveredOnce(id);
    expect(announced(id)).toBe(1);
    // The staging key is gone; the marker multipart upload stays until the form expired (direct-post.test.ts).
    expect((await listAllKeys(info, bucket, key)).sort()).toEqual([key, `${key}.info`]);
  });

  it('a POSTed file whose client never asks to complete it is finished by the sweep; one that never arrived expires', async () => {
    const data = Buffer.from('nobody told tusport\n'.repeat(20));
    const arrived = await alice().params('quiet.txt', 'text/plain');
    expect((await alice().postForm(arrived.body.url, arrived.body.fields, data)).status).toBeLessThan(300);
    const never = await alice().params('never.txt', 'text/plain');
    // Now: the arrived one is finished, the other is left alone (not expired yet).
    const first = await server.app.tusport.sweep(Date.now());
    expect(first.completed).toBeGreaterThanOrEqual(1);
    expect((await sidecarOf(arrived.body.key)).tusport).toMatchObject({ direct: 'post', completion: 'notified' });
    expect((await sidecarOf(arrived.body.key)).size).toBe(data.length);
    await deliveredOnce(arrived.body.id);
    expect(announced(arrived.body.id)).toBe(1);
    expect(sha256(await objectBytes(info, bucket, arrived.body.key))).toBe(sha256(data));
    expect((await listAllKeys(info, bucket, arrived.body.key)).sort()).toEqual([arrived.body.key, `${arrived.body.key}.info`]);
    expect((await listAllKeys(info, bucket, never.body.key)).sort()).toEqual([`${never.body.key}.info`]);
    // The client's late completion call answers as if it had made it.
    const late = await alice().completePost(arrived.body.id);
    expect(late.status, late.text).toBe(200);
    expect(finished.filter((request) => request.Event.Upload.ID === arrived.body.id)).toHaveLength(1);
    // Past `expire`, the one that never arrived is gone, marker and sidecar.
    await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
    expect(await listAllKeys(info, bucket, never.body.key)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === never.body.key)).toEqual([]);
    expect((await alice().completePost(never.body.id)).status).toBe(404);
    // And the finished one's form has long expired: its marker is gone too, its file stays.
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === arrived.body.key)).toEqual([]);
    expect(sha256(await objectBytes(info, bucket, arrived.body.key))).toBe(sha256(data));
  });

  it('S3 refuses a form past maxSize, with another key, or another Content-Type than the policy says', async () => {
    const client = userClient('alice', ALICE);
    const params = await client.params('n.txt', 'text/plain');
    expect(params.status, params.text).toBe(200);
    const { url, fields, key } = params.body;
    expect(fields['Content-Type']).toBe('text/plain');
    const tooBig = await client.postForm(url, fields, randomBytes(MiB + 1));
    expect(tooBig.status, tooBig.text).toBe(400);
    expect(tooBig.text).toContain('EntityTooLarge');
    const otherKey = await client.postForm(url, { ...fields, key: 'users/bob/mine' }, Buffer.from('x'));
    expect(otherKey.status, otherKey.text).toBe(403);
    const otherType = await client.postForm(url, { ...fields, 'Content-Type': 'text/html' }, Buffer.from('<script>'));
    expect(otherType.status, otherType.text).toBe(403);
    expect(await listAllKeys(info, bucket, 'users/bob/')).toEqual([]);
    expect((await listAllKeys(info, bucket, key)).sort()).toEqual([`${key}.info`]);
  });

  it('bytes that are not what the accept list allows are deleted at completion (415)', async () => {
    const client = userClient('alice', ALICE);
    const params = await client.params('fake.txt', 'text/plain');
    const { url, fields, key, id } = params.body;
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');
    expect((await client.postForm(url, fields, pdf)).status).toBeLessThan(300);
    const done = await client.completePost(id);
    expect(done.status, done.text).toBe(415);
    expect(done.body).toMatchObject({ code: 'TUSPORT_ERR_CONTENT_NOT_ACCEPTED' });
    expect(await listAllKeys(info, bucket, key)).toEqual([]);
    expect(finished.some((request) => request.Event.Upload.ID === id)).toBe(false);
  });
});

describe('direct uploads and quotas', () => {
  it('an unfinished direct upload holds a quota slot until it is completed or aborted; others\' slots are their own', async () => {
    const quota = (token: string) => new DirectClient(`${server.url}/quota`, bearer(token));
    const first = await quota(ALICE).create('one.bin', 'application/octet-stream');
    expect(first.status, first.text).toBe(200);
    const second = await quota(ALICE).params('two.txt', 'text/plain');
    expect(second.status).toBe(429);
    expect(second.body).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS' });
    // Refused before anything was made: no sidecar, no multipart upload beyond the first.
    expect((await listAllKeys(info, bucket, 'quota/')).sort()).toEqual([`${first.body.key}.info`]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key?.startsWith('quota/')).map((u) => u.Key)).toEqual([first.body.key]);
    expect((await quota(BOB).create('bobs.bin', 'application/octet-stream')).status).toBe(200);
    // Completed, the slot is free again.
    const done = await quota(ALICE).uploadMultipart(first.body.uploadId, first.body.key, randomBytes(1000), PART);
    expect(done.status, done.text).toBe(200);
    const third = await quota(ALICE).create('three.bin', 'application/octet-stream');
    expect(third.status, third.text).toBe(200);
    // Aborted, too.
    expect((await quota(ALICE).abort(third.body.uploadId, third.body.key)).status).toBe(200);
    expect((await quota(ALICE).params('four.txt', 'text/plain')).status).toBe(200);
  });
});

describe('direct config', () => {
  it('names the key of a bad direct option', async () => {
    const store = s3Store(info, bucket);
    await expect(startTusport({ endpoints: [{ path: '/files', store, direct: { urlLifetime: 'soon' } }] })).rejects.toThrow(/endpoints\[0\]\.direct\.urlLifetime/);
    await expect(startTusport({ endpoints: [{ path: '/files', store, direct: { lifetime: '1m' } as never }] })).rejects.toThrow(/endpoints\[0\]\.direct/);
  });

  it('refuses `direct` on a disk endpoint, naming the key', async () => {
    await expect(startTusport((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: dir }, direct: true }] }))).rejects.toThrow(
      /endpoints\[0\]\.direct.*needs an S3 store/s,
    );
  });
});
