import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads } from '../harness/ceph.js';
import { errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { until } from '../helpers/wait.js';
import { ceph, idOf, MiB, objectBytes, PART, s3Store, sha256 } from './lib.js';

const info = ceph();

describe('S3 store: templated prefixes', () => {
  let bucket: string;
  let server: RunningTusport;
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'prefix');
    server = await startTusport({ endpoints: [{ path: '/users/{username}/uploads', store: s3Store(info, bucket, { prefix: 'users/{username}/' }) }] });
  });
  afterAll(() => server?.close());

  it("each user's uploads live under their own prefix and are invisible to the other", async () => {
    const alice = randomBytes(3000);
    const bob = randomBytes(4000);
    const a = idOf((await tusUpload(alice, { endpoint: `${server.url}/users/alice/uploads` })).url);
    const b = idOf((await tusUpload(bob, { endpoint: `${server.url}/users/bob/uploads` })).url);
    expect(await listAllKeys(info, bucket, 'users/alice/')).toEqual([`users/alice/${a}`, `users/alice/${a}.info`]);
    expect(await listAllKeys(info, bucket, 'users/bob/')).toEqual([`users/bob/${b}`, `users/bob/${b}.info`]);
    expect(sha256(await objectBytes(info, bucket, `users/alice/${a}`))).toBe(sha256(alice));
    // Bob's URL with Alice's id: not found on every method, and nothing changes.
    for (const method of ['HEAD', 'GET', 'DELETE']) {
      const response = await raw(server.url, { method, path: `/users/bob/uploads/${a}`, headers: TUS });
      expect(response.status, method).toBe(404);
    }
    expect(await listAllKeys(info, bucket, 'users/alice/')).toEqual([`users/alice/${a}`, `users/alice/${a}.info`]);
  });

  it('a param that would leave its prefix is refused before S3 is asked', async () => {
    const response = await raw(server.url, { method: 'POST', path: '/users/..%2Fbob/uploads', headers: { ...TUS, 'Upload-Length': '1' } });
    expect(response.status).toBe(400);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_INVALID_PARAM');
    expect(await listAllKeys(info, bucket, 'users/')).not.toContainEqual(expect.stringContaining('..'));
  });
});

describe('S3 store: expiry', () => {
  let bucket: string;
  let server: RunningTusport;
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'expire');
    server = await startTusport({ endpoints: [{ path: '/files', store: s3Store(info, bucket), expire: '1h' }] });
  });
  afterAll(() => server?.close());

  it('the sweep aborts expired unfinished uploads and removes all their objects; finished ones stay', async () => {
    const finished = idOf((await tusUpload(randomBytes(1234), { endpoint: `${server.url}/files` })).url);
    const create = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': String(PART + MiB) } });
    const unfinished = idOf(String(create.headers.location));
    // A full part and a tail: every kind of object an unfinished upload has.
    expect((await patch(server.url, `/files/${unfinished}`, 0, randomBytes(PART + 100))).status).toBe(204);
    expect(await listAllKeys(info, bucket, unfinished)).toEqual([`${unfinished}.info`, `${unfinished}.part`]);

    // Not yet expired: nothing happens.
    expect(await server.app.tusport.sweep(Date.now())).toEqual({ expired: 0, leftovers: 0, completed: 0, skipped: 0 });
    expect(await headOffset(server.url, `/files/${unfinished}`)).toBe(PART + 100);

    const result = await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
    expect(result.expired).toBe(1);
    expect(await listAllKeys(info, bucket, unfinished)).toEqual([]);
    expect((await listMultipartUploads(info, bucket)).map((u) => u.Key)).not.toContain(unfinished);
    // The finished upload is never expired.
    expect(await listAllKeys(info, bucket, finished)).toEqual([finished, `${finished}.info`]);
    expect((await raw(server.url, { method: 'GET', path: `/files/${finished}`, headers: TUS })).status).toBe(200);
  });

  it('an expired upload is refused with 410 before the sweep runs', async () => {
    // Its own bucket: the sweep test above counts what expires in the shared one.
    const short = await startTusport({ endpoints: [{ path: '/files', store: s3Store(info, await createTestBucket(info, 'expire-short')), expire: 1 }] });
    try {
      const create = await raw(short.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
      // Dated by the server before its answer arrived: 1 ms after now, it has expired.
      const createdBy = Date.now();
      const id = idOf(String(create.headers.location));
      await until(() => Date.now() > createdBy + 1, 'the upload\'s 1 ms expiry');
      const response = await patch(short.url, `/files/${id}`, 0, Buffer.from('0123456789'));
      expect(response.status).toBe(410);
      expect(errorOf(response).code).toBe('TUSPORT_ERR_EXPIRED');
    } finally {
      await short.close();
    }
  });
});

describe('S3 store: finalize is a server-side copy', () => {
  let bucket: string;
  let server: RunningTusport;
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'final');
    server = await startTusport({
      endpoints: [{ path: '/files', store: s3Store(info, bucket, { prefix: 'in/' }), finalize: { path: 'done/{filename}', overwrite: false } }],
    });
  });
  afterAll(() => server?.close());

  it('moves the finished object to its final key; the upload URL still serves it', async () => {
    const data = randomBytes(PART + 99);
    const before = await listAllKeys(info, bucket, 'in/');
    const id = idOf((await tusUpload(data, { endpoint: `${server.url}/files`, metadata: { filename: 'report.pdf' } })).url);
    // Exactly these keys appeared (other tests' uploads share the bucket): the sidecar and the final object.
    expect((await listAllKeys(info, bucket, 'in/')).filter((key) => !before.includes(key)).sort()).toEqual([`in/${id}.info`, 'in/done/report.pdf'].sort());
    expect(sha256(await objectBytes(info, bucket, 'in/done/report.pdf'))).toBe(sha256(data));
    const sidecar = JSON.parse((await objectBytes(info, bucket, `in/${id}.info`)).toString('utf8'));
    expect(sidecar.tusport.final_path).toBe('done/report.pdf');
    const download = await raw(server.url, { method: 'GET', path: `/files/${id}`, headers: TUS });
    expect(download.status).toBe(200);
    expect(sha256(download.bytes)).toBe(sha256(data));
  });

  it('a taken final name is refused at creation (409) and nothing is overwritten', async () => {
    const first = randomBytes(1000);
    await tusUpload(first, { endpoint: `${server.url}/files`, metadata: { filename: 'taken.pdf' } });
    const response = await raw(server.url, {
      method: 'POST',
      path: '/files',
      headers: { ...TUS, 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from('taken.pdf').toString('base64')}` },
    });
    expect(response.status).toBe(409);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_FINAL_PATH_TAKEN');
    expect(sha256(await objectBytes(info, bucket, 'in/done/taken.pdf'))).toBe(sha256(first));
  });
});

describe('S3 store: finalize when the final key is taken at finish, and the rename / replace modes', () => {
  let bucket: string;
  let server: RunningTusport;
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'clash');
    const endpoint = (name: string, overwrite: boolean | 'rename') => ({
      path: `/${name}`,
      store: s3Store(info, bucket, { prefix: `${name}/` }),
      finalize: { path: 'final/{filename}', overwrite },
    });
    server = await startTusport({ endpoints: [endpoint('keep', false), endpoint('rename', 'rename'), endpoint('replace', true)] });
  });
  afterAll(() => server?.close());

  const named = (filename: string) => ({ 'Upload-Metadata': `filename ${Buffer.from(filename).toString('base64')}` });
  const create = async (endpoint: string, length: number, filename: string) => {
    const response = await raw(server.url, { method: 'POST', path: `/${endpoint}`, headers: { ...TUS, 'Upload-Length': String(length), ...named(filename) } });
    expect(response.status, response.body).toBe(201);
    return new URL(String(response.headers.location)).pathname;
  };

  it('overwrite: false: the later of two same-named uploads gets 409 FINAL_PATH_TAKEN at finish, stays complete at its own key, and clobbers nothing', async () => {
    const a = await create('keep', 5, 'same.bin');
    const b = await create('keep', 5, 'same.bin');
    expect((await patch(server.url, a, 0, Buffer.from('AAAAA'))).status).toBe(204);
    const late = await patch(server.url, b, 0, Buffer.from('BBBBB'));
    expect(late.status).toBe(409);
    expect(errorOf(late)).toMatchObject({ code: 'TUSPORT_ERR_FINAL_PATH_TAKEN', message: expect.stringContaining('final/same.bin') });
    expect((await objectBytes(info, bucket, 'keep/final/same.bin')).toString()).toBe('AAAAA');
    expect(await listAllKeys(info, bucket, `keep/${idOf(b)}`)).toEqual([`keep/${idOf(b)}`, `keep/${idOf(b)}.info`]);
    expect((await objectBytes(info, bucket, `keep/${idOf(b)}`)).toString()).toBe('BBBBB');
    expect(await headOffset(server.url, b)).toBe(5);
    expect((await raw(server.url, { method: 'GET', path: b })).body).toBe('BBBBB');
  });

  it("overwrite: 'rename': three same-named uploads land under distinct keys, none lost", async () => {
    const paths = [await create('rename', 3, 'photo.jpg'), await create('rename', 3, 'photo.jpg'), await create('rename', 3, 'photo.jpg')];
    const results = await Promise.all(paths.map((p, i) => patch(server.url, p, 0, Buffer.from(`ph${i}`))));
    expect(results.map((r) => r.status)).toEqual([204, 204, 204]);
    const finals = (await listAllKeys(info, bucket, 'rename/final/')).filter((key) => !key.endsWith('.info'));
    expect(finals.sort()).toEqual(['rename/final/photo (1).jpg', 'rename/final/photo (2).jpg', 'rename/final/photo.jpg']);
    const contents = await Promise.all(finals.map(async (key) => (await objectBytes(info, bucket, key)).toString()));
    expect(contents.sort()).toEqual(['ph0', 'ph1', 'ph2']);
  });

  // Not asserted here: what the replaced upload's own URL serves afterwards. On disk it is 404; on
  // S3 today it serves the newer object under the older upload's Content-Length (a broken
  // response), reported to the lead as a store bug rather than pinned by a test.
  it('overwrite: true: a later upload replaces the earlier finalized object', async () => {
    const first = await create('replace', 3, 'notes.txt');
    expect((await patch(server.url, first, 0, Buffer.from('old'))).status).toBe(204);
    const second = await create('replace', 4, 'notes.txt');
    expect((await patch(server.url, second, 0, Buffer.from('new!'))).status).toBe(204);
    expect((await objectBytes(info, bucket, 'replace/final/notes.txt')).toString()).toBe('new!');
    expect((await raw(server.url, { method: 'GET', path: second })).body).toBe('new!');
    expect(await headOffset(server.url, first)).toBe(3);
  });
});
