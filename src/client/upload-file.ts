import { createReadStream } from 'node:fs';
import * as tus from 'tus-js-client';
import { describeFailure, shouldRetry } from './errors.js';
import type { UploadEvent } from './events.js';
import { metadataFor, sha256Of } from './metadata.js';
import type { LocalFile, UploadPlan } from './options.js';
import { fingerprintOf, type ResumeState } from './state.js';

export type Outcome = 'done' | 'failed' | 'interrupted';

export interface RunningUpload {
  finished: Promise<Outcome>;
  /** Stop sending (SIGINT). The stored fingerprint stays, so the next run resumes. */
  abort(): Promise<void>;
}

/**
 * Upload one file with tus-js-client, reporting through `emit`. Resolves, never rejects: a
 * failure is an `error` event and the outcome `failed`.
 */
export function uploadFile(file: LocalFile, plan: UploadPlan, state: ResumeState, emit: (event: UploadEvent) => void): RunningUpload {
  let settle!: (outcome: Outcome) => void;
  let settled = false;
  const finished = new Promise<Outcome>((resolve) => {
    settle = (outcome) => {
      if (settled) return;
      settled = true;
      source.destroy();
      resolve(outcome);
    };
  });
  // tus-js-client reads chunks through fresh streams on this one's path; this one only names
  // the file (and lets its default file reader take the fast path). Its errors surface there.
  const source = createReadStream(file.path).on('error', () => undefined);
  const fingerprint = fingerprintOf(plan.endpoint, file);
  let aborted = false;
  let succeeded = false;
  // Bytes the server has acknowledged: what the next run resumes from, at least.
  let offset = 0;
  let lastMethod = '';
  // Rate over this run only: resumed bytes were not sent now.
  let firstProgress: { at: number; bytes: number } | undefined;

  const fail = (error: Error) => {
    emit({ event: 'error', file: file.arg, ...describeFailure(error), ...(upload.url ? { url: upload.url } : {}) });
    settle('failed');
  };

  const upload = new tus.Upload(source as never, {
    endpoint: plan.endpoint,
    headers: plan.headers,
    chunkSize: plan.chunkSize,
    retryDelays: plan.retryDelays,
    urlStorage: state,
    fingerprint: async () => fingerprint,
    storeFingerprintForResuming: true,
    // Removed below, after success, by fingerprint: tus-js-client's own removal reports a
    // failure through onError after onSuccess already ran.
    removeFingerprintOnSuccess: false,
    onAfterResponse(request, response) {
      lastMethod = request.getMethod();
      const status = response.getStatus();
      if (lastMethod === 'HEAD' && status >= 200 && status < 300) offset = Number(response.getHeader('Upload-Offset')) || 0;
      // A stored upload the server no longer has (expired, deleted): tus-js-client starts anew.
      if (lastMethod === 'HEAD' && status >= 400 && status < 500 && status !== 423) emit({ event: 'restart', file: file.arg, url: request.getURL(), status });
    },
    onUploadUrlAvailable() {
      const url = upload.url ?? '';
      if (lastMethod === 'HEAD') emit({ event: 'resume', file: file.arg, url, offset, size: file.size });
      else emit({ event: 'created', file: file.arg, url });
    },
    onProgress(bytes, total) {
      const now = Date.now();
      firstProgress ??= { at: now, bytes };
      const seconds = (now - firstProgress.at) / 1000;
      const rate = seconds > 0 ? (bytes - firstProgress.bytes) / seconds : undefined;
      const eta = rate ? (total - bytes) / rate : undefined;
      emit({ event: 'progress', file: file.arg, bytes, size: total, ...(rate !== undefined ? { bytesPerSecond: Math.round(rate) } : {}), ...(eta !== undefined ? { etaSeconds: Math.ceil(eta) } : {}) });
    },
    onChunkComplete(_chunk, accepted) {
      offset = accepted;
    },
    onShouldRetry(error, attempt, options) {
      const retry = shouldRetry(error);
      const delays = options.retryDelays ?? [];
      if (retry) emit({ event: 'retry', file: file.arg, attempt: attempt + 1, of: delays.length, delayMs: delays[attempt] ?? 0, message: describeFailure(error).message });
      return retry;
    },
    onSuccess() {
      succeeded = true;
      const url = upload.url ?? '';
      void (async () => {
        await state.forget(fingerprint);
        const sha256 = plan.sha256 ? await sha256Of(file.path) : undefined;
        emit({ event: 'done', file: file.arg, url, bytes: file.size, ...(sha256 ? { sha256 } : {}) });
        settle('done');
      })().catch(fail);
    },
    onError: fail,
  });

  void (async () => {
    upload.options.metadata = await metadataFor(file, plan.metadata);
    if (plan.resume) {
      const previous = await state.latest(fingerprint);
      if (previous) upload.resumeFromPreviousUpload(previous);
    } else {
      // --no-resume: whatever was stored for this file is abandoned; the new upload replaces it.
      await state.forget(fingerprint);
    }
    if (aborted) return;
    emit({ event: 'start', file: file.arg, size: file.size, endpoint: plan.endpoint });
    upload.start();
  })().catch(fail);

  return {
    finished,
    async abort() {
      aborted = true;
      // Past the last byte there is nothing to interrupt: let it report done.
      if (succeeded) return;
      await upload.abort();
      if (!settled) emit({ event: 'interrupted', file: file.arg, offset, size: file.size, ...(upload.url ? { url: upload.url } : {}) });
      settle('interrupted');
    },
  };
}
