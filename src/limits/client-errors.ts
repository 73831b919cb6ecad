import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/**
 * Requests Node's HTTP parser gives up on before Fastify sees them (headers too slow, too large,
 * malformed): answered in tusport's error format with a named code, like every other refusal,
 * instead of Fastify's bare `{"message":"Client Error"}`. Passed to `Fastify({ clientErrorHandler })`.
 */
const ANSWERS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    code: 'TUSPORT_ERR_HEADERS_TIMEOUT',
    message: "The request's headers did not arrive within server.headersTimeout",
  },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'TUSPORT_ERR_HEADERS_TOO_LARGE', message: "The request's headers exceed the server's limit" },
};
const MALFORMED = { status: 400, code: 'TUSPORT_ERR_MALFORMED_REQUEST', message: 'The request is not valid HTTP/1.1' };

export function answerClientError(this: FastifyInstance, error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset or an already destroyed socket has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const answer = ANSWERS[error.code ?? ''] ?? MALFORMED;
  this.log.debug({ err: error, remoteAddress: socket.remoteAddress }, `client error: ${answer.code}`);
  if (socket.writable) {
    const body = JSON.stringify({ statusCode: answer.status, code: answer.code, error: STATUS_CODES[answer.status], message: answer.message });
    socket.write(
      `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
