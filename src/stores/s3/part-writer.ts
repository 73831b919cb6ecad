import type { S3 } from '@aws-sdk/client-s3';
import { S3Store } from '@tus/s3-store';
import type { S3StoreConfig } from './schema.js';

/**
 * @tus/s3-store's write path (splitting a body into parts through temp files, keeping a tail
 * smaller than minPartSize as `<key>.part` until more bytes arrive, completing the multipart
 * upload at the last byte), used with tusport's own client and without its metadata cache.
 *
 * The cache is off because it lives in process memory: with several tusport instances on one
 * bucket, or after our own sidecar writes (a declared length), a cached `.info` would be stale.
 * Each write therefore reads `<key>.info` once more; that is one small GET per PATCH.
 */
export class PartWriter extends S3Store {
  constructor(client: S3, config: S3StoreConfig) {
    super({
      partSize: config.partSize,
      minPartSize: config.minPartSize,
      maxConcurrentPartUploads: config.maxConcurrentPartUploads,
      cache: {
        get: async () => undefined,
        set: async () => {},
        delete: async () => {},
        list: async () => [],
      },
      // Only the bucket is used: the client below replaces the one built from this config.
      s3ClientConfig: { bucket: config.bucket, region: config.region },
    });
    this.client = client;
  }
}
