import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import type { MetricsRecorder } from '../observability/metrics/recorder.js';
import type { StorageBackend, StoredUpload } from '../stores/backend.js';
import { HookCallError, hookFailure, hookRejection } from './errors.js';
import { buildHookRequest, type HookEventName, type HookRequest, idempotencyKey, type UploadSnapshot } from './events.js';
import { type HookHttpResponse, type HookResponse, withoutReservedHeaders } from './response.js';
import type { HookTransport } from './transports/transport.js';

/** One configured hook, ready to call. */
export interface HookBinding {
  /** Stable across restarts while the config names the same hook: outbox messages refer to it. */
  id: string;
  label: string;
  events: ReadonlySet<HookEventName>;
  transport: HookTransport;
  failOpen: boolean;
  /** Extra inline attempts for blocking events (retryable failures only). */
  retries: number;
  retryDelay: number;
  maxRetryDelay: number;
  forwardHeaders: readonly string[];
  principalClaims: readonly string[];
}

/** Takes notifications (post-create, post-finish, post-terminate) for durable, at-least-once delivery. */
export interface Notifier {
  send(binding: HookBinding, request: HookRequest, key: string, log: FastifyBaseLogger): Promise<void>;
}

export interface EndpointHooksOptions {
  bindings: HookBinding[];
  notifier: Notifier;
  postReceiveIntervalMs: number;
  /** The endpoint's `auth.tokenFrom.query`, redacted from the URI hooks see. */
  tokenQuery?: string | undefined;
  backend: Pick<StorageBackend, 'describe'>;
  metrics: MetricsRecorder;
}

export interface PreCreateOutcome {
  /** The upload id a hook chose (already checked against the id rules, not for uniqueness). */
  id?: string;
  metadata?: Record<string, string>;
  /** Headers hooks asked to add to the 201. */
  headers: Record<string, string>;
}

export interface ProgressWatch {
  /** The PATCH is over (`offset`: where it left the upload, undefined if it failed). */
  end(offset: number | undefined): void;
}

export type StopHandler = (response: HookHttpResponse | null | undefined) => void;

const UPLOAD_EVENTS = { 'post-create': 'created', 'post-finish': 'finished', 'post-terminate': 'terminated' } as const;

/** Exponential backoff with jitter: half the step fixed, half random, so retries spread out. */
export function backoff(attempt: number, baseMs: number, maxMs: number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return step / 2 + Math.random() * (step / 2);
}

/**
 * Runs one endpoint's hooks for its events. Blocking events (pre-*) call each subscribed hook in
 * config order, inline, and act on the answers: the first rejection wins, a failure fails closed
 * (502/503, nothing changed) unless the hook is `failOpen`. Notifications (post-create/finish/
 * terminate) go to the durable outbox before the caller answers its client. Progress
 * (post-receive) is best effort, throttled per upload, and never awaited on the PATCH path.
 */
/**
 * A partial upload of a concatenation is internal, not a file of its own: it fires no hooks and
 * counts in no upload metrics. The final upload made of partial uploads fires them all, once.
 */
function isPartial(stored: StoredUpload): boolean {
  return stored.sidecar.tusport.concat === 'partial';
}

export class EndpointHooks {
  private readonly lastProgress = new Map<string, { at: number; offset: number }>();

  constructor(private readonly options: EndpointHooksOptions) {}

  wants(event: HookEventName): boolean {
    return this.options.bindings.some((binding) => binding.events.has(event));
  }

  async preCreate(context: UploadContext, upload: Pick<UploadSnapshot, 'id' | 'size' | 'metadata' | 'concat'>): Promise<PreCreateOutcome> {
    const outcome: PreCreateOutcome = { headers: {} };
    const snapshot: UploadSnapshot = { ...upload, offset: 0, storage: null };
    await this.runBlocking('pre-create', context, snapshot, (response) => {
      if (response.RejectUpload) throw hookRejection('REJECTED', 'The upload was rejected by the server', response.HTTPResponse);
      Object.assign(outcome.headers, response.HTTPResponse?.Header ?? {});
      // A later hook sees what an earlier one changed.
      const change = response.ChangeFileInfo;
      if (change?.ID) snapshot.id = outcome.id = change.ID;
      if (change?.MetaData) snapshot.metadata = outcome.metadata = change.MetaData;
    });
    return outcome;
  }

  /** Resolves with headers hooks asked to add to the answer; throws a rejection or a failure. */
  async preFinish(context: UploadContext, stored: StoredUpload): Promise<Record<string, string>> {
    const headers: Record<string, string> = {};
    if (isPartial(stored)) return headers;
    await this.runBlocking('pre-finish', context, this.snapshotOf(context, stored), (response) => {
      if (response.RejectUpload) throw hookRejection('REJECTED', 'The upload was rejected by the server', response.HTTPResponse);
      Object.assign(headers, response.HTTPResponse?.Header ?? {});
    });
    return headers;
  }

  async preTerminate(context: UploadContext, stored: StoredUpload): Promise<void> {
    if (isPartial(stored)) return;
    await this.runBlocking('pre-terminate', context, this.snapshotOf(context, stored), (response) => {
      if (response.RejectTermination) throw hookRejection('REJECTED', 'Termination of this upload was refused by the server', response.HTTPResponse);
    });
  }

  /**
   * Hand a notification to the outbox for every hook that wants it. Never throws. Called once per
   * upload created, finished and terminated, hooks or not: the metrics count those events here, so
   * they agree with the hook events (as tusd's counters do).
   */
  async notify(event: 'post-create' | 'post-finish' | 'post-terminate', context: UploadContext, stored: StoredUpload): Promise<void> {
    if (isPartial(stored)) return;
    this.options.metrics.upload(UPLOAD_EVENTS[event]);
    if (!this.wants(event)) return;
    if (event !== 'post-create') this.lastProgress.delete(stored.sidecar.id);
    const snapshot = this.snapshotOf(context, stored);
    for (const binding of this.options.bindings) {
      if (!binding.events.has(event)) continue;
      const request = this.requestFor(event, context, snapshot, binding);
      await this.options.notifier.send(binding, request, idempotencyKey(request), context.log);
    }
  }

  /**
   * Report progress while a PATCH writes: counts the bytes flowing past (a 'data' listener on the
   * paused request, so the store's reader still decides when data flows) and sends post-receive
   * at most once per interval per upload. `onStop` runs when a hook answers `StopUpload`.
   */
  watchProgress(context: UploadContext, stored: StoredUpload, source: Readable, onStop: StopHandler): ProgressWatch | undefined {
    if (!this.wants('post-receive') || isPartial(stored)) return undefined;
    const id = stored.sidecar.id;
    const start = stored.offset;
    const cap = stored.sidecar.size ?? Number.MAX_SAFE_INTEGER;
    if (!this.lastProgress.has(id)) {
      this.forgetStaleProgress();
      this.lastProgress.set(id, { at: 0, offset: start });
    }
    let received = 0;
    const count = (chunk: Buffer) => {
      received += chunk.length;
    };
    source.pause();
    source.on('data', count);
    const report = (offset: number) => this.progress(context, stored, Math.min(offset, cap), onStop);
    const timer = setInterval(() => report(start + received), this.options.postReceiveIntervalMs);
    timer.unref();
    return {
      end: (offset) => {
        clearInterval(timer);
        source.off('data', count);
        if (offset !== undefined) report(offset);
        if (offset === cap) this.lastProgress.delete(id);
      },
    };
  }

  /** Uploads abandoned mid-way never finish: forget their throttle state after a while. */
  private forgetStaleProgress(): void {
    if (this.lastProgress.size < 10_000) return;
    const cutoff = Date.now() - 3_600_000;
    for (const [id, last] of this.lastProgress) if (last.at < cutoff) this.lastProgress.delete(id);
  }

  private progress(context: UploadContext, stored: StoredUpload, offset: number, onStop: StopHandler): void {
    const id = stored.sidecar.id;
    const now = Date.now();
    const last = this.lastProgress.get(id);
    if (last && (offset <= last.offset || now - last.at < this.options.postReceiveIntervalMs)) return;
    this.lastProgress.set(id, { at: now, offset });
    const snapshot = { ...this.snapshotOf(context, stored), offset };
    for (const binding of this.options.bindings) {
      if (!binding.events.has('post-receive')) continue;
      const request = this.requestFor('post-receive', context, snapshot, binding);
      void invoke(binding, request, idempotencyKey(request), context.log, 0, this.options.metrics).then(
        (response) => {
          if (!response.StopUpload) return;
          context.log.info({ uploadId: id, event: 'post-receive', hook: binding.label }, 'hook asked to stop the upload');
          onStop(response.HTTPResponse);
        },
        () => undefined,
      );
    }
  }

  private async runBlocking(event: HookEventName, context: UploadContext, snapshot: UploadSnapshot, apply: (response: HookResponse) => void): Promise<void> {
    for (const binding of this.options.bindings) {
      if (!binding.events.has(event)) continue;
      const request = this.requestFor(event, context, snapshot, binding);
      let response: HookResponse;
      try {
        response = await invoke(binding, request, idempotencyKey(request, snapshot.id), context.log, binding.retries, this.options.metrics);
      } catch (error) {
        if (binding.failOpen) {
          context.log.warn({ uploadId: snapshot.id, event, hook: binding.label }, 'hook failed; failOpen is set, so going ahead');
          continue;
        }
        throw hookFailure(event, error);
      }
      try {
        apply(response);
      } catch (rejection) {
        context.log.info({ uploadId: snapshot.id, event, hook: binding.label, status: (rejection as { statusCode?: number }).statusCode }, 'hook said no');
        throw rejection;
      }
    }
  }

  private requestFor(event: HookEventName, context: UploadContext, snapshot: UploadSnapshot, binding: HookBinding): HookRequest {
    return buildHookRequest(event, context, snapshot, {
      forwardHeaders: binding.forwardHeaders,
      principalClaims: binding.principalClaims,
      tokenQuery: this.options.tokenQuery,
    });
  }

  private snapshotOf(context: UploadContext, stored: StoredUpload): UploadSnapshot {
    return {
      id: stored.sidecar.id,
      size: stored.sidecar.size,
      offset: stored.offset,
      metadata: stored.sidecar.metadata,
      storage: this.options.backend.describe(context.place, stored),
      finalPath: stored.sidecar.tusport.final_path,
      concat: stored.sidecar.tusport.concat,
    };
  }
}

/** Call one hook, retrying retryable failures up to `retries` times; every attempt is logged. */
async function invoke(binding: HookBinding, request: HookRequest, key: string, log: FastifyBaseLogger, retries: number, metrics: MetricsRecorder): Promise<HookResponse> {
  const body = JSON.stringify(request);
  const event = request.Type;
  const uploadId = key.split(':')[0];
  for (let attempt = 1; ; attempt += 1) {
    const started = Date.now();
    try {
      const { response, dropped } = withoutReservedHeaders(await binding.transport.invoke({ request, body, idempotencyKey: key }));
      metrics.hookInvoked(event, false);
      log[event === 'post-receive' ? 'debug' : 'info']({ uploadId, event, hook: binding.label, attempt, ms: Date.now() - started }, 'hook answered');
      if (dropped.length > 0) log.warn({ uploadId, event, hook: binding.label, headers: dropped }, 'hook answered headers only tusport may set; dropped them');
      return response;
    } catch (error) {
      metrics.hookInvoked(event, true);
      const failure = error instanceof HookCallError ? error : new HookCallError('threw', 'failed', false, String(error));
      const fields = { uploadId, event, hook: binding.label, attempt, ms: Date.now() - started, reason: failure.message, detail: failure.detail };
      if (failure.retryable && attempt <= retries) {
        const delay = backoff(attempt, binding.retryDelay, binding.maxRetryDelay);
        log.warn({ ...fields, retryInMs: Math.round(delay) }, 'hook failed; retrying');
        await sleep(delay);
        continue;
      }
      log[event === 'post-receive' ? 'warn' : 'error'](fields, 'hook failed');
      throw failure;
    }
  }
}
