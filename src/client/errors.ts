import type * as tus from 'tus-js-client';

/** Why an upload failed, in words a user can act on, plus what a script may want to match. */
export interface Failure {
  message: string;
  status?: number;
  code?: string;
}

// Node's socket error codes, said plainly.
const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed by the server',
  ETIMEDOUT: 'timed out',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

function isDetailed(error: Error): error is tus.DetailedError {
  return 'originalRequest' in error;
}

/** tusport answers errors as `{ statusCode, code, error, message }`; anything else is text. */
function serverError(response: tus.HttpResponse): { code?: string; message: string } {
  const body = response.getBody() ?? '';
  try {
    const parsed = JSON.parse(body) as { code?: unknown; message?: unknown };
    if (typeof parsed.message === 'string') return { code: typeof parsed.code === 'string' ? parsed.code : undefined, message: parsed.message };
  } catch {
    // not JSON: a proxy's HTML page or a plain-text error
  }
  const text = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
  return { message: text.length > 200 ? `${text.slice(0, 200)}...` : text };
}

/** What to change when the server refused a request; empty when nothing obvious. */
function hint(status: number, method: string, code: string | undefined, message: string): string {
  if (status === 413 && (code === 'TUSPORT_ERR_CHUNK_TOO_LARGE' || (code === undefined && method === 'PATCH'))) {
    const limit = /maxChunkSize of (\d+)/.exec(message)?.[1];
    return limit
      ? `; lower --chunk-size to ${limit} bytes or less`
      : '; the server or a proxy in front of it limits the request size: lower --chunk-size, e.g. --chunk-size 1MiB';
  }
  if (status === 401) return '; pass a valid token with --token or --token-env';
  return '';
}

export function describeFailure(error: Error): Failure {
  if (!isDetailed(error) || !error.originalRequest) return { message: error.message };
  const request = error.originalRequest;
  const response = error.originalResponse;
  if (response) {
    const status = response.getStatus();
    const { code, message } = serverError(response);
    const what = `${request.getMethod()} ${request.getURL()} answered ${status}${code ? ` ${code}` : ''}`;
    return { message: `${what}${message ? `: ${message}` : ''}${hint(status, request.getMethod(), code, message)}`, status, ...(code ? { code } : {}) };
  }
  const cause = error.causingError as NodeJS.ErrnoException | null;
  const network = cause?.code ? NETWORK_ERRORS[cause.code] : undefined;
  if (network) return { message: `cannot reach ${request.getURL()}: ${network}`, code: cause?.code };
  return { message: cause?.message ?? error.message };
}

/**
 * Retry what may pass by itself: network errors, 5xx, 409 (offset mismatch: tus-js-client
 * re-reads the offset), 423 (locked) and 429 (busy), like Uppy. Not a 409 for a taken final
 * path: the bytes are all there, and a retry's HEAD would report the upload complete, hiding
 * that it was never moved to its final name.
 */
export function shouldRetry(error: tus.DetailedError): boolean {
  const status = error.originalResponse?.getStatus() ?? 0;
  if (status === 0 || status >= 500) return true;
  if (status === 409 && error.originalResponse && serverError(error.originalResponse).code === 'TUSPORT_ERR_FINAL_PATH_TAKEN') return false;
  return status === 409 || status === 423 || status === 429;
}
