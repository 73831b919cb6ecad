import type { S3 } from '@aws-sdk/client-s3';
import { performance } from 'node:perf_hooks';
import type { MetricsRecorder } from './recorder.js';

/**
 * Time every S3 API call of this client by operation (`UploadPart`, `ListParts`...), as tusd's
 * `tusd_s3_request_duration_ms` does. The middleware sits at the outermost step, so a call's time
 * includes the SDK's retries: what a request of ours waited for.
 */
export function instrumentS3Client(client: S3, metrics: MetricsRecorder): void {
  if (!metrics.enabled) return;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const operation = (context.commandName ?? 'unknown').replace(/Command$/, '');
      const started = performance.now();
      try {
        const result = await next(args);
        metrics.s3Request(operation, performance.now() - started, 'ok');
        return result;
      } catch (error) {
        // A 404 is how tusport learns an object (e.g. the `.part` tail) is absent: not a failure.
        const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
        metrics.s3Request(operation, performance.now() - started, status === 404 ? 'not_found' : 'error');
        throw error;
      }
    },
    { step: 'initialize', name: 'tusportMetrics' },
  );
}
