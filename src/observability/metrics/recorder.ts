import type { HookEventName } from '../../hooks/events.js';

/** The upload lifecycle events tusd counts (`tusd_uploads_created|finished|terminated`). */
export type UploadEvent = 'created' | 'finished' | 'terminated';

/**
 * What the rest of tusport tells the metrics. Every method is cheap and synchronous (a counter
 * bump): with metrics off (the default) it is `NO_METRICS`, which does nothing, so the code that
 * reports does not need to know whether anyone listens.
 */
export interface MetricsRecorder {
  /** Whether anything is recorded (lets callers skip work whose only use is a metric). */
  readonly enabled: boolean;
  request(method: string, status: number | 'aborted', errorCode: string | undefined): void;
  upload(event: UploadEvent): void;
  bytesReceived(bytes: number): void;
  /** A request body started (+1) or stopped (-1) being written to a store. */
  writesInFlight(delta: 1 | -1): void;
  hookInvoked(event: HookEventName, failed: boolean): void;
  /** One storage backend operation (`get`, `write`, `create`...) took `seconds`. */
  storeOperation(store: 'disk' | 's3', operation: string, seconds: number, failed: boolean): void;
  /** One S3 API call (`UploadPart`, `HeadObject`...) took `ms`, retries included. */
  s3Request(operation: string, ms: number, outcome: 'ok' | 'not_found' | 'error'): void;
  /** Waiting for an upload's lock took `seconds` (`acquired`: false when it was never granted). */
  lockWait(seconds: number, acquired: boolean): void;
}

export const NO_METRICS: MetricsRecorder = {
  enabled: false,
  request: () => undefined,
  upload: () => undefined,
  bytesReceived: () => undefined,
  writesInFlight: () => undefined,
  hookInvoked: () => undefined,
  storeOperation: () => undefined,
  s3Request: () => undefined,
  lockWait: () => undefined,
};
