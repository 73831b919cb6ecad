import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listMultipartUploads, s3Client } from '../harness/ceph.js';
import { patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { ceph, objectBytes, s3FilesConfig } from './lib.js';

const idOf = (uploadPath: string) => uploadPath.split('/').pop() ?? '';

/**
 * Issue 11 on S3. Finding 7: a finalize S3 refuses (here: a bucket policy denying writes under
 * `done/`) answered 500 and the retry 204 with nothing redone; now 503 until S3 allows it, then
 * the next HEAD copies the object and notifies, once. Finding 1: one upload the sweep cannot read
 * (a policy denying its `.info`) no longer stops the sweep of the others.
 */
const info = ceph();
const s3 = () => s3Client(info);

function denyPolicy(bucket: string, action: string, resource: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Deny', Principal: '*', Action: [action], Resource: [`arn:aws:s3:::${bucket}/${resource}`] }],
  });
}

const create = async (server: RunningTusport, length: number, filename: string) => {
  const response = await raw(server.url, {
    method: 'POST',
    path: '/files',
    headers: { ...TUS, 'Upload-Length': String(length), 'Upload-Metadata': `filename ${Buffer.from(filename).toString('base64')}` },
  });
  expect(response.status, response.body).toBe(201);
  return new URL(String(response.headers.location)).pathname;
};

describe('S3: a finalize S3 refuses', () => {
  let bucket: string;
  let server: RunningTusport;
  const done: string[] = [];
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'finalize-refused');
    server = await startTusport(
      s3FilesConfig(info, bucket, { finalize: { path: 'done/{filename}' }, onUploadDone: async (upload: { id: string }) => void done.push(upload.id) }),
    );
  });
  afterAll(async () => {
    await s3().deleteBucketPolicy({ Bucket: bucket }).catch(() => undefined);
    await server?.close();
  });

  it('PATCH answers 503 while S3 refuses the copy, and once allowed the next HEAD finalizes and notifies exactly once', async () => {
    await s3().putBucketPolicy({ Bucket: bucket, Policy: denyPolicy(bucket, 's3:PutObject', 'done/*') });
    const upload = await create(server, 5, 'a.txt');
    const first = await patch(server.url, upload, 0, Buffer.from('hello'));
    expect(first.status, first.body).toBe(503);
    expect(JSON.parse(first.body)).toMatchObject({ code: 'TUSPORT_ERR_STORAGE' });
    const retry = await patch(server.url, upload, 5, Buffer.alloc(0));
    expect(retry.status, retry.body).toBe(503);
    // HEAD reports the received bytes (a 503 would make tus-js-client start over) and leaves the rest.
    const stalled = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(stalled.status).toBe(200);
    expect(stalled.headers['upload-offset']).toBe('5');
    expect(done).toEqual([]);

    await s3().deleteBucketPolicy({ Bucket: bucket });
    const head = await raw(server.url, { method: 'HEAD', path: upload, headers: TUS });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('5');
    expect((await objectBytes(info, bucket, 'done/a.txt')).toString()).toBe('hello');
    expect(done).toEqual([idOf(upload)]);
    const sidecar = JSON.parse((await objectBytes(info, bucket, `${idOf(upload)}.info`)).toString());
    expect(sidecar.tusport).toMatchObject({ completion: 'notified', final_path: 'done/a.txt' });
    expect((await patch(server.url, upload, 5, Buffer.alloc(0))).status).toBe(204);
    expect(done).toHaveLength(1);
  });
});

describe('S3: the sweep and an upload it cannot read', () => {
  let bucket: string;
  let server: RunningTusport;
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'sweep-unreadable');
    server = await startTusport(s3FilesConfig(info, bucket, { expire: '1h' }));
  });
  afterAll(async () => {
    await s3().deleteBucketPolicy({ Bucket: bucket }).catch(() => undefined);
    await server?.close();
  });

  it('is skipped and logged; the other expired uploads are still removed', async () => {
    const ids = [];
    for (let n = 0; n < 3; n++) ids.push(idOf(await create(server, 10, `${n}.txt`)));
    ids.sort();
    // The first in listing order cannot be read.
    const unreadable = ids[0]!;
    await s3().putBucketPolicy({ Bucket: bucket, Policy: denyPolicy(bucket, 's3:GetObject', `${unreadable}.info`) });
    const result = await server.app.tusport.sweep(Date.now() + 2 * 3600_000);
    await s3().deleteBucketPolicy({ Bucket: bucket });
    expect(result).toEqual({ expired: 2, leftovers: 0, completed: 0, skipped: 1 });
    expect((await listMultipartUploads(info, bucket)).map((upload) => upload.Key)).toEqual([unreadable]);
  });
});
