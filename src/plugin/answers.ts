import { STATUS_CODES } from 'node:http';
import { TUS_RESUMABLE } from '@tus/server';
import type { FastifyError, FastifyInstance } from 'fastify';
import { Errors } from '../errors.js';
import { isHookRejection, sendHookRejection } from '../hooks/errors.js';
import { CHECKSUM_MISMATCH_STATUS_TEXT } from '../protocols/tus/checksum.js';
import { isStorageFailure, storageError } from '../uploads/storage-errors.js';

/**
 * How tusport answers what went wrong on its routes: every error as tusport's error JSON with a
 * named code, and URLs no route matches as `TUSPORT_ERR_ROUTE_NOT_FOUND`. Applied to tusport's
 * own scope when embedded (the host's routes keep the host's handlers), to the whole server
 * when tusport is the server.
 */
export function registerErrorAnswers(scope: FastifyInstance, options: { notFound: boolean }): void {
  scope.setErrorHandler((thrown: FastifyError, request, reply) => {
    if (isHookRejection(thrown)) return sendHookRejection(reply, thrown);
    // A store failure from any step (S3 down or refusing, a full disk) is 503/507 with its cause
    // logged, wherever it surfaced; only what is truly unexpected is a 500.
    const error: FastifyError = thrown.statusCode === undefined && isStorageFailure(thrown) ? (storageError(thrown, request.log) as FastifyError) : thrown;
    const status = error.statusCode ?? 500;
    const known = error.statusCode !== undefined;
    // A coded error may say when to come back (Retry-After of a 503 while quota counts are rebuilt).
    const headers = (error as { headers?: Record<string, string> }).headers;
    // Such a planned refusal is a warning: at a busy restart every client gets one, and an error
    // line each would bury the real failures.
    if (status >= 500) {
      if (known && headers?.['Retry-After'] !== undefined) request.log.warn({ code: error.code, status }, 'request refused for now (Retry-After)');
      else request.log.error({ err: error }, 'request failed');
    }
    if (known && headers) reply.headers(headers);
    return reply.code(status).send({
      statusCode: status,
      code: known ? error.code : 'TUSPORT_ERR_INTERNAL',
      // 460 is tus's own (Checksum Mismatch), unknown to Node.
      error: STATUS_CODES[status] ?? (status === 460 ? CHECKSUM_MISMATCH_STATUS_TEXT : 'Error'),
      message: known ? error.message : 'Something went wrong on our side; the request id is in X-Request-Id',
    });
  });
  // Embedded without a prefix, unmatched URLs are the host's: only a prefix (or the whole
  // server) is tusport's to answer for.
  if (options.notFound) {
    scope.setNotFoundHandler((request, reply) => {
      // tus: every response but OPTIONS carries Tus-Resumable, `PATCH /files/` (no id) included.
      if (request.method !== 'OPTIONS') reply.header('Tus-Resumable', TUS_RESUMABLE);
      throw new Errors.ROUTE_NOT_FOUND(request.method, request.url.split('?')[0]?.slice(0, 200));
    });
  }
}
