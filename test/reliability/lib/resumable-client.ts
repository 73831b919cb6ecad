import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A tus client over raw node:http that retries and resumes the way a careful client should, and
 * checks the server on every step: an acknowledged offset never goes backwards (even across a
 * SIGKILL), the server never claims bytes it was not sent, a 204 acknowledges exactly the bytes
 * of its request. Any violation, any 5xx and any unexpected 4xx fails the upload with a message
 * saying what happened.
 */

export type Outcome =
  | { kind: 'response'; status: number; headers: http.IncomingHttpHeaders; body: string }
  | { kind: 'network'; error: Error }
  | { kind: 'dropped'; sent: number };

export interface SendOptions {
  method: string;
  path: string;
  headers: Record<string, string | number>;
  body?: Buffer;
  /** Write only this many bytes of `body`, then destroy the socket (a network drop mid-request). */
  dropAfter?: number;
  /** A request still unanswered after this long fails the upload: a hang is a bug, not a retry. */
  timeoutMs: number;
}

/** The answer to `req` (its body read), or the failure of its connection. */
export function outcomeOf(req: http.ClientRequest): Promise<Outcome> {
  return new Promise((resolve) => {
    req.on('error', (error) => resolve({ kind: 'network', error }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ kind: 'response', status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (error) => resolve({ kind: 'network', error }));
    });
  });
}

/** One request on its own connection; network failures are outcomes, not exceptions. */
export function send(baseUrl: string, options: SendOptions): Promise<Outcome> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (outcome: Outcome | Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const req = http.request({ host: url.hostname, port: url.port, method: options.method, path: options.path, headers: options.headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy();
      settle(new Error(`${options.method} ${options.path} got no answer within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
    void outcomeOf(req).then(settle);
    const { body, dropAfter } = options;
    if (body === undefined) req.end();
    else if (dropAfter === undefined) req.end(body);
    else {
      // The write callback fires once the bytes are with the kernel; destroying then sends them
      // and a FIN, so the server receives exactly `dropAfter` bytes of this body.
      req.write(body.subarray(0, dropAfter), () => {
        req.destroy();
        settle({ kind: 'dropped', sent: dropAfter });
      });
    }
  });
}

export interface ResumableOptions {
  baseUrl: string;
  /** Collection URL path, e.g. `/files`. */
  endpoint: string;
  data: Buffer;
  metadata?: Record<string, string>;
  /** Length of the next PATCH body (capped at what remains). */
  nextChunkSize: () => number;
  /** For a PATCH about to send `length` bytes at `offset`: a byte count to drop the connection after, or undefined. */
  dropAfter?: (offset: number, length: number) => number | undefined;
  /** Wait before retrying after a network error, a 423 or a 409. */
  retryDelayMs: () => number;
  /** Called with each PATCH's length as it starts (for scenarios that act on progress). */
  onSending?: (bytes: number) => void;
  /** Called right after each successful HEAD, with the server's offset. */
  onHead?: (offset: number, uploadPath: string) => Promise<void> | void;
  requestTimeoutMs?: number;
  /** Give up (fail) after this many consecutive network failures. */
  maxConsecutiveFailures?: number;
}

export interface ResumableResult {
  uploadPath: string;
  /** POSTs that got no answer: each may have created an upload nobody will ever use. */
  lostPosts: number;
  patches: number;
  drops: number;
  /** HEADs that found more bytes than had been acknowledged (kept from an interrupted PATCH). */
  keptUnacknowledged: number;
  networkFailures: number;
  /** Bytes sent over the wire in PATCH bodies, resends included. */
  bytesSent: number;
  /** Every server offset learned, in order (from HEADs and 204s). */
  offsets: number[];
}

export class UploadFailure extends Error {}

export async function resumableUpload(options: ResumableOptions): Promise<ResumableResult> {
  const { baseUrl, data } = options;
  const timeoutMs = options.requestTimeoutMs ?? 120_000;
  const maxFailures = options.maxConsecutiveFailures ?? 200;
  const TUS = { 'Tus-Resumable': '1.0.0' };
  const result: ResumableResult = { uploadPath: '', lostPosts: 0, patches: 0, drops: 0, keptUnacknowledged: 0, networkFailures: 0, bytesSent: 0, offsets: [] };
  /** Highest offset the server has stated (204 or HEAD): it may never report less again. */
  let confirmed = 0;
  /** Highest end of any byte range handed to a socket: the server may never report more. */
  let sentEnd = 0;
  let failuresInARow = 0;
  const fail = (what: string): never => {
    throw new UploadFailure(`${result.uploadPath || options.endpoint}: ${what}`);
  };
  const unexpected = (method: string, outcome: Outcome & { kind: 'response' }): never =>
    fail(`${method} answered ${outcome.status} ${outcome.body.slice(0, 300)}`);
  const networkFailure = async (method: string, outcome: Outcome & { kind: 'network' }) => {
    result.networkFailures += 1;
    failuresInARow += 1;
    if (failuresInARow > maxFailures) fail(`${failuresInARow} network failures in a row, last on ${method}: ${outcome.error.message}`);
    await sleep(options.retryDelayMs());
  };
  const learnOffset = (offset: number, from: string) => {
    if (!Number.isSafeInteger(offset) || offset < 0) fail(`${from} gave Upload-Offset ${offset}`);
    if (offset < confirmed) fail(`offset went backwards: ${from} says ${offset}, the server had stated ${confirmed}`);
    if (offset > sentEnd) fail(`${from} says ${offset}, more than the ${sentEnd} bytes ever sent`);
    confirmed = offset;
    result.offsets.push(offset);
  };

  const metadata = Object.entries(options.metadata ?? {})
    .map(([key, value]) => `${key} ${Buffer.from(value).toString('base64')}`)
    .join(',');
  while (!result.uploadPath) {
    const outcome = await send(baseUrl, {
      method: 'POST',
      path: options.endpoint,
      headers: { ...TUS, 'Upload-Length': data.length, ...(metadata ? { 'Upload-Metadata': metadata } : {}) },
      timeoutMs,
    });
    if (outcome.kind === 'network') {
      result.lostPosts += 1;
      await networkFailure('POST', outcome);
      continue;
    }
    if (outcome.kind !== 'response' || outcome.status !== 201) return unexpected('POST', outcome as Outcome & { kind: 'response' });
    failuresInARow = 0;
    result.uploadPath = new URL(String(outcome.headers.location)).pathname;
  }

  let offset = 0;
  let needHead = false;
  while (true) {
    if (needHead) {
      const outcome = await send(baseUrl, { method: 'HEAD', path: result.uploadPath, headers: TUS, timeoutMs });
      if (outcome.kind === 'network') {
        await networkFailure('HEAD', outcome);
        continue;
      }
      if (outcome.kind !== 'response') return fail('HEAD dropped');
      if (outcome.status === 423) {
        await sleep(options.retryDelayMs());
        continue;
      }
      if (outcome.status !== 200) return unexpected('HEAD', outcome);
      failuresInARow = 0;
      const stated = Number(outcome.headers['upload-offset']);
      if (Number(outcome.headers['upload-length']) !== data.length) fail(`HEAD says Upload-Length ${outcome.headers['upload-length']}, expected ${data.length}`);
      if (stated > confirmed) result.keptUnacknowledged += 1;
      learnOffset(stated, 'HEAD');
      offset = stated;
      needHead = false;
      await options.onHead?.(stated, result.uploadPath);
    }
    if (offset === data.length) return result;

    const length = Math.max(1, Math.min(options.nextChunkSize(), data.length - offset));
    const dropAfter = options.dropAfter?.(offset, length);
    const sending = dropAfter ?? length;
    sentEnd = Math.max(sentEnd, offset + sending);
    result.patches += 1;
    result.bytesSent += sending;
    options.onSending?.(sending);
    const outcome = await send(baseUrl, {
      method: 'PATCH',
      path: result.uploadPath,
      headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': offset, 'Content-Length': length },
      body: data.subarray(offset, offset + length),
      ...(dropAfter !== undefined ? { dropAfter } : {}),
      timeoutMs,
    });
    if (outcome.kind === 'dropped') {
      result.drops += 1;
      needHead = true;
      continue;
    }
    if (outcome.kind === 'network') {
      await networkFailure('PATCH', outcome);
      needHead = true;
      continue;
    }
    if (outcome.status === 409 || outcome.status === 423) {
      await sleep(options.retryDelayMs());
      needHead = true;
      continue;
    }
    if (outcome.status !== 204) return unexpected('PATCH', outcome);
    failuresInARow = 0;
    const acknowledged = Number(outcome.headers['upload-offset']);
    if (acknowledged !== offset + length) fail(`PATCH of ${length} bytes at ${offset} answered 204 with Upload-Offset ${acknowledged}`);
    learnOffset(acknowledged, 'PATCH 204');
    offset = acknowledged;
  }
}
