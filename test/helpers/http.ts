import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The body as UTF-8 text. */
  body: string;
  /** The body's exact bytes. */
  bytes: Buffer;
}

export interface RawRequest {
  method: string;
  /** Sent as-is on the request line: no normalisation, no encoding. */
  path: string;
  headers?: Record<string, string | number | string[]>;
  /** A Buffer/string is sent with Content-Length; a Readable or iterable is sent chunked. */
  body?: Buffer | string | Readable | Iterable<Buffer> | AsyncIterable<Buffer>;
  /** For an https base URL: the PEM certificate(s) to trust (e.g. a test's self-signed one). */
  ca?: string;
  /** Trailer fields sent after a chunked (Readable or iterable) body. */
  trailers?: Record<string, string>;
}

export const TUS = { 'Tus-Resumable': '1.0.0' } as const;

/** One raw HTTP/1.1 request (https for an https base URL) on a fresh connection, exactly as given. */
export function raw(baseUrl: string, request: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request({
      host: url.hostname,
      port: url.port,
      method: request.method,
      path: request.path,
      headers: request.headers,
      agent: false,
      ...(request.ca ? { ca: request.ca } : {}),
    });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString('utf8'), bytes });
      });
      res.on('error', reject);
    });
    const body = request.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else {
      const stream = body instanceof Readable ? body : Readable.from(body);
      // The server may answer and close before the whole body is sent; that is a valid outcome.
      stream.on('error', () => req.destroy());
      req.on('error', () => stream.destroy());
      const trailers = request.trailers;
      if (!trailers) stream.pipe(req);
      else {
        stream.pipe(req, { end: false });
        stream.on('end', () => {
          req.addTrailers(trailers);
          req.end();
        });
      }
    }
  });
}

/** Create an upload with a raw POST; returns its path (`/files/<id>`). */
export async function createUpload(baseUrl: string, basePath: string, headers: Record<string, string | number> = {}): Promise<string> {
  const response = await raw(baseUrl, { method: 'POST', path: basePath, headers: { ...TUS, ...headers } });
  if (response.status !== 201) throw new Error(`create failed: ${response.status} ${response.body}`);
  return new URL(String(response.headers.location)).pathname;
}

export async function headOffset(baseUrl: string, uploadPath: string): Promise<number> {
  const response = await raw(baseUrl, { method: 'HEAD', path: uploadPath, headers: TUS });
  if (response.status !== 200) throw new Error(`HEAD failed: ${response.status}`);
  return Number(response.headers['upload-offset']);
}

export function patch(baseUrl: string, uploadPath: string, offset: number, body: RawRequest['body'], headers: Record<string, string> = {}) {
  return raw(baseUrl, {
    method: 'PATCH',
    path: uploadPath,
    headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset), ...headers },
    body,
  });
}

/** Parse a tusport JSON error body. */
export function errorOf(response: RawResponse): { code: string; message: string } {
  return JSON.parse(response.body) as { code: string; message: string };
}
