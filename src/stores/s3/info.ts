import type { S3 } from '@aws-sdk/client-s3';
import { TUS_RESUMABLE } from '@tus/server';
import type { Sidecar } from '../sidecar.js';
import { isS3NotFound } from './errors.js';

/** Where @tus/s3-store (and we) keep an upload's objects: the data key and its companions. */
export const infoKey = (key: string) => `${key}.info`;
export const partKey = (key: string) => `${key}.part`;
/**
 * Where a presigned POST of a direct upload writes (src/protocols/s3-direct/staging.ts): S3 takes
 * the same form again until it expires, so it never names the upload's own key. Removing an upload
 * removes this too.
 */
export const POST_SUFFIX = '.post';
export const postKey = (key: string) => `${key}${POST_SUFFIX}`;

/** The sidecar as stored in S3, plus the multipart upload id kept in the object's metadata. */
export interface S3Info {
  sidecar: Sidecar;
  multipartId: string | undefined;
}

/**
 * Read `<key>.info`. Its body is the tusport sidecar (a superset of @tus/s3-store's upload JSON)
 * and its `upload-id` metadata the multipart upload id, exactly where @tus/s3-store looks for them.
 */
export async function readInfo(client: S3, bucket: string, key: string): Promise<S3Info | undefined> {
  let response;
  try {
    response = await client.getObject({ Bucket: bucket, Key: infoKey(key) });
  } catch (error) {
    if (isS3NotFound(error)) return undefined;
    throw error;
  }
  const text = (await response.Body?.transformToString()) ?? '';
  let sidecar: Sidecar;
  try {
    sidecar = JSON.parse(text) as Sidecar;
  } catch {
    return undefined;
  }
  if (!sidecar || typeof sidecar !== 'object' || typeof sidecar.tusport !== 'object' || sidecar.tusport === null) return undefined;
  return { sidecar, multipartId: response.Metadata?.['upload-id'] };
}

/** Write `<key>.info` (one PUT: S3 replaces objects atomically). */
export async function writeInfo(client: S3, bucket: string, key: string, sidecar: Sidecar, multipartId: string | undefined): Promise<void> {
  await client.putObject({
    Bucket: bucket,
    Key: infoKey(key),
    Body: JSON.stringify(sidecar),
    ContentType: 'application/json',
    Metadata: { 'tus-version': TUS_RESUMABLE, ...(multipartId ? { 'upload-id': multipartId } : {}) },
  });
}
