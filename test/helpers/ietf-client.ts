import http from 'node:http';
import { tus } from './tus-client.js';

/**
 * A small client for "Resumable Uploads for HTTP" written to the text of draft -11 (interop 8),
 * with raw node:http: it records informational (1xx) responses, which is how a client learns an
 * upload's URL (104) before its creation request ends. Other versions differ only in the headers
 * the caller passes (see `completeHeaders`).
 */
export interface IetfResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** 1xx responses received before the final one. */
  informational: { status: number; headers: http.IncomingHttpHeaders }[];
}

export interface IetfRequest {
  method: string;
  /** Absolute URL or a path against `base`. */
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Send only this many bytes of `body` (Content-Length still says all of it), then drop the connection. */
  cutAfter?: number;
  /** With `cutAfter`: drop the connection only once a 1xx has arrived (the client knows the upload's URL). */
  cutOnInformational?: boolean;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length), in a few pieces. */
  chunked?: boolean;
  /** Called on each 1xx, e.g. to drop the connection once the upload's URL is known. */
  onInformational?: (info: { status: number; headers: http.IncomingHttpHeaders }, request: http.ClientRequest) => void;
}

export function ietfRequest(base: string, request: IetfRequest): Promise<IetfResponse> {
  const url = new URL(request.url, base);
  const informational: IetfResponse['informational'] = [];
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...request.headers };
    if (request.body && !request.chunked) headers['Content-Length'] ??= String(request.body.length);
    const req = http.request({ host: url.hostname, port: url.port, method: request.method, path: `${url.pathname}${url.search}`, headers, agent: false });
    req.on('information', (info) => {
      const entry = { status: info.statusCode, headers: info.headers };
      informational.push(entry);
      request.onInformational?.(entry, req);
    });
    req.on('error', (error) => (request.cutAfter !== undefined || req.destroyed ? resolve({ status: 0, headers: {}, body: String(error), informational }) : reject(error)));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, informational }));
      res.on('error', reject);
    });
    if (!request.body) return void req.end();
    if (request.chunked) {
      const third = Math.ceil(request.body.length / 3);
      for (let start = 0; start < request.body.length; start += third) req.write(request.body.subarray(start, start + third));
      return void req.end();
    }
    if (request.cutAfter === undefined) return void req.end(request.body);
    req.flushHeaders();
    const drop = () => setImmediate(() => req.destroy());
    if (request.cutOnInformational) req.once('information', drop);
    req.write(request.body.subarray(0, request.cutAfter), () => (request.cutOnInformational ? undefined : drop()));
  });
}

/** How interop version `version` says whether a body ends the upload. */
export function completeHeaders(version: number, complete: boolean): Record<string, string> {
  if (version === 3) return complete ? {} : { 'Upload-Incomplete': '?1' };
  return { 'Upload-Complete': complete ? '?1' : '?0' };
}

/** The status of a successful append in `version`: 201 up to -05 (interop 3 to 6), then 204 ("Upload Append"). */
export function appendStatus(version: number): number {
  return version <= 6 ? 201 : 204;
}

/** The media type an append must carry in `version` (none before interop 6). */
export function appendHeaders(version: number): Record<string, string> {
  return version >= 6 ? { 'Content-Type': 'application/partial-upload' } : {};
}

/**
 * Start a tus-js-client upload with `options`, stop it (abort) once `chunks` chunks are
 * acknowledged, and resolve with its URL and the acknowledged offset, to resume it from there.
 */
export function stoppedTusUpload(data: Buffer, options: Partial<tus.UploadOptions>, chunks: number): Promise<{ url: string; offset: number }> {
  return new Promise((resolve, reject) => {
    let done = 0;
    const upload = new tus.Upload(data as never, {
      retryDelays: [],
      ...options,
      onError: reject,
      onSuccess: () => reject(new Error('finished before it was stopped')),
      onChunkComplete: (_size, accepted) => {
        if (++done === chunks) void upload.abort().then(() => resolve({ url: upload.url!, offset: accepted }));
      },
    });
    upload.start();
  });
}
