import { randomBytes } from 'node:crypto';
import {
  CreateBucketCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  S3,
  type MultipartUpload,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { CephInfo } from './ceph.js';

/**
 * An S3 client for the harness's RGW: the aggregated `S3` class, an S3Client that also has
 * `getObject(...)`-style methods, for shorter test code. Path-style because RGW has no wildcard DNS here;
 * checksums only when required because the SDK's default CRC32 on every UploadPart makes
 * Ceph RGW answer 500 (see FACTS.md). `overrides` e.g. set maxAttempts or a requestHandler
 * with short timeouts.
 */
export function s3Client(info: CephInfo, overrides: Partial<S3ClientConfig> = {}): S3 {
  return new S3({
    endpoint: info.endpoint,
    region: info.region,
    forcePathStyle: true,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    ...overrides,
  });
}

/**
 * Resolve once RGW answers an authenticated ListBuckets: an open port alone is not enough, the
 * credentials must work too. Fails early once `exited()` says radosgw is gone; every failure
 * includes `logTail()`.
 */
export async function waitForS3(
  info: CephInfo,
  timeoutMs: number,
  { logTail, exited }: { logTail: () => string; exited: () => boolean },
): Promise<void> {
  const client = s3Client(info, { maxAttempts: 1, requestHandler: { requestTimeout: 2_000, connectionTimeout: 1_000 } });
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  try {
    while (Date.now() < deadline) {
      try {
        await client.send(new ListBucketsCommand({}));
        return;
      } catch (error) {
        last = error;
        if (exited()) throw new Error(`radosgw exited before it served S3\n${logTail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } finally {
    client.destroy();
  }
  const reason = last instanceof Error ? `${last.name}: ${last.message}` : String(last);
  throw new Error(`RGW at ${info.endpoint} did not answer S3 within ${timeoutMs} ms (last: ${reason})\n${logTail()}`);
}

/** Create a bucket with a unique, S3-valid name starting with `prefix`; returns the name. */
export async function createTestBucket(info: CephInfo, prefix: string): Promise<string> {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'test';
  const suffix = `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const name = `${clean.slice(0, 63 - suffix.length - 1)}-${suffix}`;
  const client = s3Client(info);
  try {
    await client.send(new CreateBucketCommand({ Bucket: name }));
  } finally {
    client.destroy();
  }
  return name;
}

/** Every object key in `bucket` (under `prefix`), following pagination. */
export async function listAllKeys(info: CephInfo, bucket: string, prefix?: string, pageSize = 1000): Promise<string[]> {
  const client = s3Client(info);
  const keys: string[] = [];
  try {
    for await (const page of paginateListObjectsV2({ client, pageSize }, { Bucket: bucket, Prefix: prefix })) {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    }
  } finally {
    client.destroy();
  }
  return keys;
}

/** Every multipart upload still open in `bucket` (started and neither completed nor aborted). */
export async function listMultipartUploads(info: CephInfo, bucket: string): Promise<MultipartUpload[]> {
  const client = s3Client(info);
  const uploads: MultipartUpload[] = [];
  try {
    // This SDK version has no paginator for ListMultipartUploads: follow the markers by hand.
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    for (;;) {
      const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker, UploadIdMarker }));
      uploads.push(...(page.Uploads ?? []));
      if (!page.IsTruncated) break;
      KeyMarker = page.NextKeyMarker;
      UploadIdMarker = page.NextUploadIdMarker;
    }
  } finally {
    client.destroy();
  }
  return uploads;
}

/**
 * The CORS rules a browser needs to upload straight to `bucket` (presigned POST and part PUTs,
 * see README "Direct to S3"): any origin here (tests run on random loopback ports), and `ETag`
 * exposed, without which `@uppy/aws-s3` cannot complete a multipart upload.
 */
export async function allowBrowserUploads(info: CephInfo, bucket: string, origins: string[] = ['*']): Promise<void> {
  const client = s3Client(info);
  try {
    await client.putBucketCors({
      Bucket: bucket,
      CORSConfiguration: {
        CORSRules: [{ AllowedOrigins: origins, AllowedMethods: ['GET', 'PUT', 'POST'], AllowedHeaders: ['*'], ExposeHeaders: ['ETag', 'Location'], MaxAgeSeconds: 3000 }],
      },
    });
  } finally {
    client.destroy();
  }
}

/**
 * Remove everything a test put in `bucket` (open multipart uploads, then objects) and the bucket:
 * the shared RGW keeps its data in a 2 GiB memstore, which big uploads left behind fill up.
 */
export async function removeTestBucket(info: CephInfo, bucket: string): Promise<void> {
  const client = s3Client(info);
  try {
    for (const upload of await listMultipartUploads(info, bucket)) {
      await client.abortMultipartUpload({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId });
    }
    const keys = await listAllKeys(info, bucket);
    for (let start = 0; start < keys.length; start += 1000) {
      await client.deleteObjects({ Bucket: bucket, Delete: { Objects: keys.slice(start, start + 1000).map((Key) => ({ Key })), Quiet: true } });
    }
    await client.deleteBucket({ Bucket: bucket });
  } finally {
    client.destroy();
  }
}
