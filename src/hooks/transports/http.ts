import { canonicalHeaderName } from '../events.js';
import { HookCallError } from '../errors.js';
import { parseHookResponse } from '../response.js';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signHookBody } from '../sign.js';
import type { HookTransport } from './transport.js';

export interface HttpTransportOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** Client request headers also set on the hook's own request (tusd's `-hooks-http-forward-headers`). */
  forwardHeaders: readonly string[];
}

/** A receiver's answer larger than this is not a hook response. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * POST the event as JSON to a URL, as tusd's HTTP hooks do: a 2xx answer carries the hook's
 * response (empty means "go ahead"), anything else is a hook error. Every request is signed
 * (`Tusport-Signature`) and carries an `Idempotency-Key`. One attempt per call; retries are the
 * caller's (inline for blocking events, the outbox for notifications).
 */
export function httpTransport(options: HttpTransportOptions): HookTransport {
  const url = new URL(options.url);
  // fetch refuses URLs with credentials: send them as Basic auth instead, and never log them.
  const basic = url.username || url.password ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}` : undefined;
  url.username = '';
  url.password = '';
  return {
    label: redactUrl(url),
    async invoke(call) {
      const headers: Record<string, string> = {};
      const clientHeaders = call.request.Event.HTTPRequest.Header;
      for (const name of options.forwardHeaders) {
        const values = clientHeaders[canonicalHeaderName(name)];
        if (values) headers[name] = values.join(', ');
      }
      if (basic) headers.Authorization = basic;
      headers['Content-Type'] = 'application/json';
      headers['Tusport-Event'] = call.request.Type;
      headers[IDEMPOTENCY_HEADER] = call.idempotencyKey;
      headers[SIGNATURE_HEADER] = signHookBody(options.secret, call.body);

      const timeout = AbortSignal.timeout(options.timeoutMs);
      const signal = call.signal ? AbortSignal.any([timeout, call.signal]) : timeout;
      const failed = (error: unknown) =>
        timeout.aborted
          ? new HookCallError('timeout', `timed out after ${options.timeoutMs} ms`)
          : new HookCallError('unreachable', `could not be reached (${errorCode(error)})`);
      let response: Response;
      let text: string;
      try {
        response = await fetch(url, { method: 'POST', headers, body: call.body, signal, redirect: 'manual' });
        text = await readLimited(response);
      } catch (error) {
        if (error instanceof HookCallError) throw error;
        throw failed(error);
      }
      if (response.status < 200 || response.status > 299) {
        const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
        throw new HookCallError('status', `answered HTTP ${response.status}`, retryable, text.slice(0, 500));
      }
      return parseHookResponse(text);
    },
  };
}

async function readLimited(response: Response): Promise<string> {
  if (!response.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    size += read.value.byteLength;
    if (size > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new HookCallError('invalid', `answered more than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(read.value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function errorCode(error: unknown): string {
  const cause = (error as { cause?: { code?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  return error instanceof Error && error.name !== 'TypeError' ? error.name : 'network error';
}

/** scheme://host/path with query values redacted: what logs may show of a hook URL. */
export function redactUrl(url: URL): string {
  const query = [...url.searchParams.keys()].map((key) => `${encodeURIComponent(key)}=[redacted]`).join('&');
  return `${url.protocol}//${url.host}${url.pathname}${query ? `?${query}` : ''}`;
}
