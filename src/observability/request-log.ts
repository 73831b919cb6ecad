import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { FastifyRequest } from 'fastify';
import type { RequestOrigin } from '../endpoints/request-origin.js';

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** A request's id: the client's `X-Request-Id` when it is a sane token, else a new UUID. */
export function requestIdFor(request: IncomingMessage): string {
  const given = request.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/**
 * What a request log line says about the request. Query values are redacted: tokens may travel
 * in the query string (auth.tokenFrom.query) and must never reach the logs.
 */
export const requestSerializer = (origin: RequestOrigin) => (request: FastifyRequest) => {
  const [pathname, query] = request.url.split('?', 2);
  const url = query === undefined ? pathname : `${pathname}?${query.replace(/=[^&]*/g, '=[redacted]')}`;
  return { method: request.method, url, host: request.host, remoteAddress: origin.clientAddress(request), remotePort: request.socket?.remotePort };
};
