import { S3 } from '@aws-sdk/client-s3';
import type { S3StoreConfig } from './schema.js';

/**
 * One S3 client per S3 store. Timeouts bound every request so an unreachable or stalled S3 turns
 * into a 503 for the client instead of a hung PATCH; `maxAttempts` lets the SDK retry throttling
 * and network errors with its own backoff.
 */
export function createS3Client(config: S3StoreConfig): S3 {
  const checksums = config.checksums === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  return new S3({
    region: config.region,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    // Custom endpoints (Ceph RGW, MinIO) rarely have wildcard DNS for virtual-hosted buckets.
    forcePathStyle: config.forcePathStyle ?? config.endpoint !== undefined,
    ...(config.credentials ? { credentials: config.credentials } : {}),
    // With the SDK's default (WHEN_SUPPORTED) every UploadPart to Ceph RGW failed with an opaque
    // 500; several other S3-compatible servers reject the CRC trailers too (shared/FACTS.md).
    requestChecksumCalculation: checksums,
    responseChecksumValidation: checksums,
    maxAttempts: config.maxAttempts,
    requestHandler: {
      connectionTimeout: config.connectTimeout,
      // An idle-socket limit, not a total one: a big part may take long, a silent S3 may not.
      // (The SDK's own `requestTimeout` is a total timer that by default only logs a warning.)
      socketTimeout: config.requestTimeout,
      httpAgent: { keepAlive: true, maxSockets: 64 },
      httpsAgent: { keepAlive: true, maxSockets: 64 },
    },
  });
}
