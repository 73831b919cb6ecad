import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface MetricsListenerOptions {
  host: string;
  port: number;
  path: string;
  /** When set, scrapes must send `Authorization: Bearer <token>`. */
  token?: string | undefined;
}

export interface MetricsListener {
  /** `http://host:port/path` as bound (the real port when 0 was asked for). */
  url: string;
  close(): Promise<void>;
}

/**
 * A listener of its own for `/metrics`, apart from the upload port: by default on 127.0.0.1, so
 * nothing outside the machine (or the pod) reads it unless the operator says so. A plain
 * node:http server: it answers one path, and nothing of the upload server's (CORS, auth,
 * endpoints) applies to it.
 */
export async function startMetricsListener(options: MetricsListenerOptions, registry: Registry): Promise<MetricsListener> {
  const expected = options.token === undefined ? undefined : digest(`Bearer ${options.token}`);
  const server = http.createServer((request, response) => {
    const send = (status: number, body: string, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
      response.end(body);
    };
    const path = (request.url ?? '/').split('?')[0];
    if (path !== options.path) return send(404, `Not found: metrics are at ${options.path}\n`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'Method not allowed\n', { Allow: 'GET, HEAD' });
    // Compared as digests: constant time, whatever the lengths.
    if (expected && !timingSafeEqual(digest(request.headers.authorization ?? ''), expected)) {
      return send(401, 'A bearer token is required (metrics.token)\n', { 'WWW-Authenticate': 'Bearer realm="tusport metrics"' });
    }
    registry.metrics().then(
      (text) => send(200, text, { 'Content-Type': registry.contentType }),
      (error: unknown) => send(500, `Could not collect the metrics: ${error instanceof Error ? error.message : String(error)}\n`),
    );
  });
  // Scrapers keep connections open; closing must not wait for them.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}${options.path}`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}
