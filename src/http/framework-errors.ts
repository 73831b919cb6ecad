import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../errors.js';

/**
 * Fastify answers a URL it cannot route before any route, hook or error handler runs: a path
 * whose percent-encoding is not UTF-8 (`/users/a%FFb/uploads`) or a parameter longer than
 * `maxParamLength`. Its own answer is `FST_ERR_BAD_URL` in Fastify's JSON; this gives the client
 * tusport's error format and a tusport code instead. Passed as Fastify's `frameworkErrors` option,
 * so it only applies where tusport builds the Fastify instance (a host app embedding the plugin
 * keeps its own choice).
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const ours =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new Errors.URL_TOO_LONG()
      : error.code === 'FST_ERR_BAD_URL'
        ? new Errors.BAD_URL()
        : undefined;
  const status = ours?.statusCode ?? error.statusCode ?? 400;
  // No route matched, so no onSend hook runs: set the request id here.
  reply
    .code(status)
    .header('X-Request-Id', request.id)
    .send({
      statusCode: status,
      code: ours?.code ?? 'TUSPORT_ERR_BAD_REQUEST',
      error: STATUS_CODES[status] ?? 'Error',
      message: ours?.message ?? 'The request could not be routed',
    });
}

/** Node's parser errors before any request exists, by errno code: status, tusport code, message. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'TUSPORT_ERR_HEADERS_TOO_LARGE', 'The request headers are larger than the server accepts (16 KiB in all)'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'TUSPORT_ERR_REQUEST_TIMEOUT', 'The request was not received in time'],
};

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refused (headers over 16 KiB, a
 * malformed request line) is answered in tusport's error format too, then the connection closed.
 */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = CLIENT_ERRORS[error.code ?? ''] ?? [400, 'TUSPORT_ERR_BAD_REQUEST', 'The request is not valid HTTP'];
  const body = JSON.stringify({ statusCode: status, code, error: STATUS_CODES[status], message });
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json; charset=utf-8\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy(error);
}
