import { inject } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import { type CephInfo, s3Client } from '../harness/ceph.js';

export const MiB = 1024 * 1024;
/** The smallest part S3 (and RGW) accept: the tests use it as partSize so uploads stay small. */
export const PART = 5 * MiB;

export function ceph(): CephInfo {
  return inject('ceph');
}

/** An S3 store section for the harness's RGW. */
export function s3Store(info: CephInfo, bucket: string, extra: Record<string, unknown> = {}) {
  return {
    type: 's3' as const,
    bucket,
    endpoint: info.endpoint,
    region: info.region,
    credentials: { accessKeyId: info.accessKeyId, secretAccessKey: info.secretAccessKey },
    partSize: PART,
    minPartSize: PART,
    connectTimeout: '2s',
    requestTimeout: '10s',
    maxAttempts: 2,
    ...extra,
  };
}

/** One `/files` endpoint on S3. */
export function s3FilesConfig(info: CephInfo, bucket: string, endpoint: Record<string, unknown> = {}, store: Record<string, unknown> = {}): TusportConfig {
  return { endpoints: [{ path: '/files', store: s3Store(info, bucket, store), ...endpoint }] };
}

export async function objectBytes(info: CephInfo, bucket: string, key: string): Promise<Buffer> {
  const response = await s3Client(info).getObject({ Bucket: bucket, Key: key });
  return Buffer.from(await response.Body!.transformToByteArray());
}

export { idOf, sha256 } from '../helpers/files.js';
