import type { EndpointConfig } from '../config/schema.js';
import type { StorageBackend } from './backend.js';
import { DiskBackend } from './disk.js';
import { LazyS3Backend } from './s3/lazy.js';

/** The backend of one endpoint's `store` config. */
export function createBackend(store: EndpointConfig['store']): StorageBackend {
  // The S3 backend loads the AWS SDK only when it is first used (see LazyS3Backend).
  return store.type === 's3' ? new LazyS3Backend(store) : new DiskBackend(store.directory);
}
