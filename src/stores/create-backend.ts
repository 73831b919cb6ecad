import type { EndpointConfig } from '../config/schema.js';
import type { StorageBackend } from './backend.js';
import type { CacheRedis } from './s3/state-cache.js';
import { DiskBackend } from './disk.js';
import { LazyS3Backend } from './s3/lazy.js';
import { stateCacheTtl } from './s3/state-cache.js';
import { instrumentBackend } from '../observability/metrics/instrument.js';
import { NO_METRICS, type MetricsRecorder } from '../observability/metrics/recorder.js';

/** The backend of one endpoint's `store` config (timed when metrics are on). */
export function createBackend(
  store: EndpointConfig['store'],
  metrics: MetricsRecorder = NO_METRICS,
  shared?: { redis: CacheRedis; expireMs: number | undefined },
): StorageBackend {
  // The S3 backend loads the AWS SDK only when it is first used (see LazyS3Backend).
  const cache = shared && { redis: shared.redis, ttlMs: stateCacheTtl(shared.expireMs) };
  if (store.type === 's3') return instrumentBackend(new LazyS3Backend(store, metrics, cache), metrics);
  const onSync = metrics.enabled ? (seconds: number, failed: boolean) => metrics.storeOperation('disk', 'fsync', seconds, failed) : undefined;
  return instrumentBackend(new DiskBackend(store.directory, { sync: store.sync, onSync }), metrics);
}
