import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { createTestBucket, listAllKeys, listMultipartUploads, removeTestBucket } from '../harness/ceph.js';
import { DirectClient } from '../helpers/direct-client.js';
import { raw, TUS } from '../helpers/http.js';
import { until } from '../helpers/wait.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { ceph, MiB, objectBytes, s3Store, sha256 } from './lib.js';

/**
 * A presigned POST cannot be revoked: S3 takes the same form again until it expires. So the form
 * tusport signs writes a staging key (`<key>.post`), and completion copies what it finds there to
 * the upload's key before checking it. A second POST after completion must change nothing anyone
 * reads; its leftover goes with the sweep once the form expired, or with the upload.
 */
const info = ceph();
const ALICE = 'alice-token-0123456789abcdef';
const auth = { type: 'bearer' as const, tokens: [{ id: 'alice', token: ALICE }] };
const bearer = { authorization: `Bearer ${ALICE}` };
/** Sweep as if this long after now: past the forms' 15 minutes (and the margin), short of `expire`. */
const PAST_FORMS = 30 * 60_000;

let bucket: string;
let server: RunningTusport;
const finished: HookRequest[] = [];
const client = () => new DirectClient(`${server.url}/checked`, { ...bearer });
const text = Buffer.from('a checked text file\n'.repeat(40));
const pdf = Buffer.from('%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');

/** One unfinished upload per user; quotas are rebuilt from the bucket's open multipart uploads at start. */
const quotaEndpoint = () => ({ path: '/quota', store: s3Store(info, bucket, { prefix: 'quota/' }), auth, direct: true, policy: { quota: { maxUnfinishedUploads: 1 } } });

beforeAll(async () => {
  bucket = await createTestBucket(info, 'dpost');
  const hooks = [{ type: 'function' as const, handlers: { 'post-finish': async (request: HookRequest) => void finished.push(request) } }];
  server = await startTusport({
    endpoints: [
      quotaEndpoint(),
      {
        path: '/checked',
        store: s3Store(info, bucket, { prefix: 'checked/' }),
        auth,
        direct: true,
        policy: { accept: ['text/plain'] },
        maxSize: 1 * MiB,
        expire: '1h',
        hooks,
      },
    ],
  });
});
afterAll(async () => {
  await server?.close();
  if (bucket) await removeTestBucket(info, bucket);
});

/** A text file POSTed with a fresh form and completed; the form is returned for a second POST. */
async function completedUpload() {
  const params = await client().params('note.txt', 'text/plain');
  expect(params.status, params.text).toBe(200);
  const { url, fields, key, id } = params.body;
  expect((await client().postForm(url, fields, text)).status).toBeLessThan(300);
  const done = await client().completePost(id);
  expect(done.status, done.text).toBe(200);
  await until(() => finished.some((request) => request.Event.Upload.ID === id), `post-finish of ${id}`);
  return { url, fields, key, id };
}

async function downloaded(id: string): Promise<Buffer> {
  const response = await fetch(`${server.url}/checked/${id}`, { headers: bearer });
  expect(response.status).toBe(200);
  return Buffer.from(await response.arrayBuffer());
}

describe('presigned POST: the form writes a staging key, never the checked object', () => {
  it('a second POST of the same form after completion replaces nothing: the object and a GET of the upload URL are unchanged', async () => {
    const { url, fields, key, id } = await completedUpload();
    expect(sha256(await objectBytes(info, bucket, key))).toBe(sha256(text));
    // S3 still takes the form (it cannot be revoked) ...
    const again = await client().postForm(url, fields, pdf);
    expect(again.status, again.text).toBeLessThan(300);
    // ... but what tusport checked and serves is what it checked.
    expect(sha256(await objectBytes(info, bucket, key))).toBe(sha256(text));
    expect(sha256(await downloaded(id))).toBe(sha256(text));
    // Completing again answers the same and neither copies the late POST in nor notifies twice.
    const late = await client().completePost(id);
    expect(late.status, late.text).toBe(200);
    expect(sha256(await downloaded(id))).toBe(sha256(text));
    expect(finished.filter((request) => request.Event.Upload.ID === id)).toHaveLength(1);
  });

  it('a file the sweep finished (no completion call) is just as safe from a second POST', async () => {
    const params = await client().params('quiet.txt', 'text/plain');
    const { url, fields, key, id } = params.body;
    expect((await client().postForm(url, fields, text)).status).toBeLessThan(300);
    expect((await server.app.tusport.sweep(Date.now())).completed).toBeGreaterThanOrEqual(1);
    expect((await client().postForm(url, fields, pdf)).status).toBeLessThan(300);
    expect(sha256(await objectBytes(info, bucket, key))).toBe(sha256(text));
    expect(sha256(await downloaded(id))).toBe(sha256(text));
    // The next sweep (form still valid) does not take the late POST for an arrived file either.
    await server.app.tusport.sweep(Date.now());
    expect(sha256(await downloaded(id))).toBe(sha256(text));
  });

  it('the sweep removes a finished upload\'s staging key once its form has expired, and leaves the file alone', async () => {
    const { url, fields, key, id } = await completedUpload();
    expect((await client().postForm(url, fields, pdf)).status).toBeLessThan(300);
    // While the form is valid, a leftover is not swept (another POST could follow it).
    await server.app.tusport.sweep(Date.now());
    expect((await listAllKeys(info, bucket, key)).sort()).toEqual([key, `${key}.info`, `${key}.post`]);
    const result = await server.app.tusport.sweep(Date.now() + PAST_FORMS);
    expect(result.leftovers).toBeGreaterThanOrEqual(1);
    expect((await listAllKeys(info, bucket, key)).sort()).toEqual([key, `${key}.info`]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key?.startsWith(key))).toEqual([]);
    expect(sha256(await downloaded(id))).toBe(sha256(text));
    // Nothing left to do: a later sweep finds nothing of it.
    expect((await server.app.tusport.sweep(Date.now() + PAST_FORMS)).leftovers).toBe(0);
  });

  it('a POST upload completed without a second POST leaves no staging key behind', async () => {
    const { key } = await completedUpload();
    expect((await listAllKeys(info, bucket, key)).sort()).toEqual([key, `${key}.info`]);
  });

  it('DELETE of a finished direct POST upload removes its staging key too', async () => {
    const { url, fields, key, id } = await completedUpload();
    expect((await client().postForm(url, fields, pdf)).status).toBeLessThan(300);
    const removed = await raw(server.url, { method: 'DELETE', path: `/checked/${id}`, headers: { ...TUS, ...bearer } });
    expect(removed.status, removed.body.toString()).toBe(204);
    expect(await listAllKeys(info, bucket, key)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key?.startsWith(key))).toEqual([]);
  });

  it('DELETE of an unfinished one whose file arrived removes the staging key with the rest', async () => {
    const params = await client().params('pending.txt', 'text/plain');
    const { url, fields, key, id } = params.body;
    expect((await client().postForm(url, fields, text)).status).toBeLessThan(300);
    const removed = await raw(server.url, { method: 'DELETE', path: `/checked/${id}`, headers: { ...TUS, ...bearer } });
    expect(removed.status, removed.body.toString()).toBe(204);
    expect(await listAllKeys(info, bucket, key)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key?.startsWith(key))).toEqual([]);
  });

  it('a finished POST upload whose marker is still open holds no quota slot, also when an instance rebuilds its quotas from the bucket', async () => {
    const quota = (url: string) => new DirectClient(`${url}/quota`, { ...bearer });
    const first = await quota(server.url).params('one.txt', 'text/plain');
    expect(first.status, first.text).toBe(200);
    expect((await quota(server.url).postForm(first.body.url, first.body.fields, text)).status).toBeLessThan(300);
    expect((await quota(server.url).completePost(first.body.id)).status).toBe(200);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key === first.body.key)).toHaveLength(1);
    const other = await startTusport({ endpoints: [quotaEndpoint()] });
    try {
      // Counted from the bucket, the finished upload's open marker is not an unfinished upload ...
      const second = await quota(other.url).params('two.txt', 'text/plain');
      expect(second.status, second.text).toBe(200);
      // ... and the slot is real: the next one is refused.
      const third = await quota(other.url).params('three.txt', 'text/plain');
      expect(third.status, third.text).toBe(429);
      expect(third.body).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS' });
    } finally {
      await other.close();
    }
  });
});
