import type { S3 } from '@aws-sdk/client-s3';
import { FinalizeErrors } from '../finalize-errors.js';
import { numberedName, type OverwriteMode } from '../finalize.js';
import { copySource as copySourceOf } from './concat.js';
import { isS3NotFound } from './errors.js';

/** CopyObject copies at most 5 GiB; larger objects are copied part by part, still inside S3. */
const SINGLE_COPY_LIMIT = 5 * 1024 ** 3;
const COPY_PART_BYTES = 512 * 1024 ** 2;
const MAX_RENAME_ATTEMPTS = 100;

/** Per-process claims on target keys, so two finishing uploads never pick the same free name. */
const claimed = new Set<string>();

export async function objectExists(client: S3, bucket: string, key: string): Promise<boolean> {
  try {
    await client.headObject({ Bucket: bucket, Key: key });
    return true;
  } catch (error) {
    if (isS3NotFound(error)) return false;
    throw error;
  }
}

/**
 * Pick the final key for `overwrite` and copy `source` there server-side (the bytes never come
 * back through tusport). Under `false` and `'rename'` an existing object is never replaced.
 * Between instances the existence check and the copy are not atomic (S3 has no portable
 * "copy if absent"); within one instance they are.
 */
export async function copyToFinalKey(client: S3, bucket: string, source: string, target: string, size: number, overwrite: OverwriteMode): Promise<string> {
  const attempts = overwrite === 'rename' ? MAX_RENAME_ATTEMPTS : 0;
  for (let n = 0; n <= attempts; n++) {
    const candidate = n === 0 ? target : numberedName(target, n);
    if (claimed.has(candidate)) continue;
    claimed.add(candidate);
    try {
      if (overwrite !== true && (await objectExists(client, bucket, candidate))) continue;
      await copyObject(client, bucket, source, candidate, size);
      return candidate;
    } finally {
      claimed.delete(candidate);
    }
  }
  throw new FinalizeErrors.FINAL_PATH_TAKEN(JSON.stringify(target));
}

async function copyObject(client: S3, bucket: string, source: string, target: string, size: number): Promise<void> {
  const copySource = copySourceOf(bucket, source);
  if (size <= SINGLE_COPY_LIMIT) {
    await client.copyObject({ Bucket: bucket, Key: target, CopySource: copySource });
    return;
  }
  const { UploadId } = await client.createMultipartUpload({ Bucket: bucket, Key: target });
  try {
    const parts = [];
    for (let start = 0, number = 1; start < size; start += COPY_PART_BYTES, number++) {
      const end = Math.min(start + COPY_PART_BYTES, size) - 1;
      const part = await client.uploadPartCopy({ Bucket: bucket, Key: target, UploadId, PartNumber: number, CopySource: copySource, CopySourceRange: `bytes=${start}-${end}` });
      parts.push({ ETag: part.CopyPartResult?.ETag, PartNumber: number });
    }
    await client.completeMultipartUpload({ Bucket: bucket, Key: target, UploadId, MultipartUpload: { Parts: parts } });
  } catch (error) {
    await client.abortMultipartUpload({ Bucket: bucket, Key: target, UploadId }).catch(() => undefined);
    throw error;
  }
}
