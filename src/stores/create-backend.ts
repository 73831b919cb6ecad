import type { EndpointConfig } from '../config/schema.js';
import type { StorageBackend } from './backend.js';
import { DiskBackend } from './disk.js';
import { S3Backend } from './s3/backend.js';

/** The backend of one endpoint's `store` config. */
export function createBackend(store: EndpointConfig['store']): StorageBackend {
  return store.type === 's3' ? new S3Backend(store) : new DiskBackend(store.directory);
}
