import { STATUS_CODES } from 'node:http';
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

