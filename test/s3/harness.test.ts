import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  createTestBucket,
  listAllKeys,
  listMultipartUploads,
  s3Client,
  startRadosgw,
  stopRadosgw,
} from '../harness/ceph.js';

const info = inject('ceph');
const client = s3Client(info);
afterAll(() => client.destroy());

const MiB = 1024 * 1024;
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function getBytes(bucket: string, key: string, c = client): Promise<Uint8Array> {
  const { Body } = await c.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Body!.transformToByteArray();
}

describe('Ceph RGW harness', () => {
  it('creates distinct empty buckets and returns objects byte-identical', async () => {
    const bucket = await createTestBucket(info, 'Harness_Put');
    const other = await createTestBucket(info, 'Harness_Put');
    expect(bucket).toMatch(/^harness-put-[a-z0-9-]+$/);
    expect(other).not.toBe(bucket);
    expect(await listAllKeys(info, bucket)).toEqual([]);

    const data = randomBytes(MiB + 17);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'dir/blob', Body: data }));
    expect(Buffer.from(await getBytes(bucket, 'dir/blob')).equals(data)).toBe(true);
    expect(await listAllKeys(info, bucket)).toEqual(['dir/blob']);
  });

  it('lists every key across pages and filters by prefix', async () => {
    const bucket = await createTestBucket(info, 'harness-list');
    const keys = ['a/1', 'a/2', 'a/3', 'b/1', 'b/2'];
    for (const Key of keys) await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: Key }));
    // Page size 2 forces three ListObjectsV2 pages for a/: the continuation token must be followed.
    expect(await listAllKeys(info, bucket, 'a/', 2)).toEqual(['a/1', 'a/2', 'a/3']);
    expect((await listAllKeys(info, bucket, undefined, 2)).sort()).toEqual(keys);
  });

  it('keeps multipart parts listable until completion (what @tus/s3-store resumes from)', async () => {
    const bucket = await createTestBucket(info, 'harness-multipart');
    const Key = 'big';
    const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(12_345)];
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key }));
    expect(UploadId).toBeTruthy();

    const etags: string[] = [];
    for (const [i, Body] of parts.entries()) {
      const { ETag } = await client.send(
        new UploadPartCommand({ Bucket: bucket, Key, UploadId, PartNumber: i + 1, Body }),
      );
      etags.push(ETag!);
    }

    const listed = await client.send(new ListPartsCommand({ Bucket: bucket, Key, UploadId }));
    expect(listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag])).toEqual(
      parts.map((p, i) => [i + 1, p.length, etags[i]]),
    );
    expect((await listMultipartUploads(info, bucket)).map((u) => [u.Key, u.UploadId])).toEqual([[Key, UploadId]]);
    // An unfinished multipart upload is not an object yet.
    expect(await listAllKeys(info, bucket)).toEqual([]);

    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key,
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    expect(sha256(await getBytes(bucket, Key))).toBe(sha256(Buffer.concat(parts)));
    expect(await listMultipartUploads(info, bucket)).toEqual([]);
    expect(await listAllKeys(info, bucket)).toEqual([Key]);
  });

  it('stops and restarts radosgw from a test worker without losing data', async () => {
    const bucket = await createTestBucket(info, 'harness-restart');
    const data = randomBytes(64 * 1024);
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: 'kept', Body: data }));

    // One attempt with short timeouts: with radosgw down the request must fail, not retry or hang.
    const impatient = s3Client(info, { maxAttempts: 1, requestHandler: { connectionTimeout: 1_000, requestTimeout: 2_000 } });
    try {
      await stopRadosgw(info);
      await expect(getBytes(bucket, 'kept', impatient)).rejects.toThrow(/ECONNREFUSED/);
      // Stopping twice is fine (an afterAll may not know whether a test already stopped it).
      await stopRadosgw(info);

      await startRadosgw(info);
      expect(Buffer.from(await getBytes(bucket, 'kept', impatient)).equals(data)).toBe(true);
      // Starting a running radosgw only waits for it: still exactly one, still serving.
      const pid = readFileSync(info.rgwPidFile, 'utf8');
      await startRadosgw(info);
      expect(readFileSync(info.rgwPidFile, 'utf8')).toBe(pid);
      expect(Buffer.from(await getBytes(bucket, 'kept', impatient)).equals(data)).toBe(true);
    } finally {
      impatient.destroy();
      // Other test files share this radosgw: never leave it down.
      await startRadosgw(info);
    }
  });
});
