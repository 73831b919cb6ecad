import { createRequire } from 'node:module';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HookEventName } from '../../hooks/events.js';
import type { MetricsRecorder, UploadEvent } from './recorder.js';

/** Where the gauges read their values at scrape time (nothing is tracked per connection). */
export interface GaugeSources {
  connectionsOpen?: () => Promise<number>;
  /** Undefined when there is no outbox (no notification hooks). */
  outboxDepth?: () => Promise<number | undefined>;
}

// Loaded only when metrics are on: prom-client costs memory a server without metrics never needs.
type PromClient = typeof import('prom-client');
const loadPromClient = (): PromClient => createRequire(import.meta.url)('prom-client') as PromClient;

const STORE_SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const S3_MS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000];
const LOCK_SECONDS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3, 5, 10];

/**
 * The Prometheus side of the metrics: one prom-client Registry per app (never the global one), so
 * several tusport apps in one process (tests, a host embedding two) each count their own. Names
 * follow tusd's (`tusd_x` is `tusport_x`; docs/metrics.md has the table), so dashboards translate.
 */
export class PrometheusMetrics implements MetricsRecorder {
  readonly enabled = true;
  readonly registry: Registry;
  private readonly requests: Counter<'method' | 'status'>;
  private readonly errors: Counter<'status' | 'code'>;
  private readonly uploads: Record<UploadEvent, Counter>;
  private readonly bytes: Counter;
  private readonly writes: Gauge;
  private readonly hookCalls: Counter<'hooktype'>;
  private readonly hookErrors: Counter<'hooktype'>;
  private readonly storeSeconds: Histogram<'store' | 'operation' | 'outcome'>;
  private readonly s3Ms: Histogram<'operation' | 'outcome'>;
  private readonly lockSeconds: Histogram<'outcome'>;
  private readonly sources: GaugeSources = {};

  constructor() {
    const prom = loadPromClient();
    const registry = (this.registry = new prom.Registry());
    const registers = [registry];
    const sources = this.sources;
    this.requests = new prom.Counter({ name: 'tusport_requests_total', help: 'HTTP requests answered, by method and status ("aborted": the client left first).', labelNames: ['method', 'status'], registers });
    this.errors = new prom.Counter({ name: 'tusport_errors_total', help: 'Requests answered with a 4xx or 5xx, by status and tusport error code.', labelNames: ['status', 'code'], registers });
    const uploads = (event: UploadEvent, help: string) => new prom.Counter({ name: `tusport_uploads_${event}`, help, registers });
    this.uploads = {
      created: uploads('created', 'Uploads created.'),
      finished: uploads('finished', 'Uploads whose last byte arrived and whose completion was recorded.'),
      terminated: uploads('terminated', 'Uploads terminated (DELETE, or stopped by a post-receive hook).'),
    };
    this.bytes = new prom.Counter({ name: 'tusport_bytes_received', help: 'Upload bytes written to the stores (PATCH and creation-with-upload bodies).', registers });
    this.writes = new prom.Gauge({ name: 'tusport_writes_in_flight', help: 'Request bodies (PATCH, creation-with-upload) being written to a store right now.', registers });
    new prom.Gauge({
      name: 'tusport_connections_open',
      help: 'TCP connections open on the server tusport answers on.',
      registers,
      async collect() {
        if (sources.connectionsOpen) this.set(await sources.connectionsOpen());
      },
    });
    new prom.Gauge({
      name: 'tusport_outbox_depth',
      help: 'Hook notifications waiting in the outbox (disk: this process\'s; Redis: the shared queue). 0 without notification hooks; the last known value while Redis is unreachable.',
      registers,
      async collect() {
        // Unknown while Redis is unreachable: keep the last value (/readyz says Redis is down).
        const depth = await sources.outboxDepth?.();
        if (depth !== undefined) this.set(depth);
      },
    });
    this.hookCalls = new prom.Counter({ name: 'tusport_hook_invocations_total', help: 'Hook calls, by event (each attempt, inline or from the outbox).', labelNames: ['hooktype'], registers });
    this.hookErrors = new prom.Counter({ name: 'tusport_hook_errors_total', help: 'Hook calls that failed (timeout, connection error, bad answer), by event.', labelNames: ['hooktype'], registers });
    this.storeSeconds = new prom.Histogram({
      name: 'tusport_store_operation_duration_seconds',
      help: 'Storage backend operations (get = a HEAD\'s lookup; write includes the time the client takes to send; fsync = forcing a PATCH\'s bytes to disk), by store and operation.',
      labelNames: ['store', 'operation', 'outcome'],
      buckets: STORE_SECONDS,
      registers,
    });
    this.s3Ms = new prom.Histogram({ name: 'tusport_s3_request_duration_ms', help: 'S3 API calls, by operation, retries included.', labelNames: ['operation', 'outcome'], buckets: S3_MS, registers });
    this.lockSeconds = new prom.Histogram({ name: 'tusport_lock_wait_seconds', help: 'Time spent waiting for an upload\'s lock.', labelNames: ['outcome'], buckets: LOCK_SECONDS, registers });
    prom.collectDefaultMetrics({ register: registry });
  }

  /** Tell the gauges where to read (the server and the outbox exist after the recorder). */
  watch(sources: GaugeSources): void {
    Object.assign(this.sources, sources);
  }

  request(method: string, status: number | 'aborted', errorCode: string | undefined): void {
    this.requests.inc({ method, status });
    if (typeof status === 'number' && status >= 400) this.errors.inc({ status, code: errorCode ?? '' });
  }

  upload(event: UploadEvent): void {
    this.uploads[event].inc();
  }

  bytesReceived(bytes: number): void {
    if (bytes > 0) this.bytes.inc(bytes);
  }

  writesInFlight(delta: 1 | -1): void {
    this.writes.inc(delta);
  }

  hookInvoked(event: HookEventName, failed: boolean): void {
    this.hookCalls.inc({ hooktype: event });
    if (failed) this.hookErrors.inc({ hooktype: event });
  }

  storeOperation(store: 'disk' | 's3', operation: string, seconds: number, failed: boolean): void {
    this.storeSeconds.observe({ store, operation, outcome: failed ? 'error' : 'ok' }, seconds);
  }

  s3Request(operation: string, ms: number, outcome: 'ok' | 'not_found' | 'error'): void {
    this.s3Ms.observe({ operation, outcome }, ms);
  }

  lockWait(seconds: number, acquired: boolean): void {
    this.lockSeconds.observe({ outcome: acquired ? 'acquired' : 'failed' }, seconds);
  }
}
