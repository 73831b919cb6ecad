import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isCodedError } from '../../errors.js';
import { isHookRejection } from '../../hooks/errors.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { fullLifetime, uploadLimit } from './limits.js';
import { type InteropVersion, PROBLEMS, type ProblemName } from './versions.js';

/** Which of tusport's coded errors the draft names, and as what. */
const PROBLEM_OF_CODE: Record<string, ProblemName> = {
  TUSPORT_ERR_OFFSET_MISMATCH: 'mismatchingOffset',
  TUSPORT_ERR_IETF_COMPLETED_UPLOAD: 'completedUpload',
  TUSPORT_ERR_IETF_INCONSISTENT_LENGTH: 'inconsistentLength',
  // Bytes past the declared length, or a second, different length: the draft calls both inconsistent.
  TUSPORT_ERR_PAST_UPLOAD_LENGTH: 'inconsistentLength',
  TUSPORT_ERR_LENGTH_ALREADY_SET: 'inconsistentLength',
};

/**
 * Answer a coded error as problem details (RFC 9457, `application/problem+json`): the draft's
 * problem type and status where it names one (from the interop version that introduced it; before,
 * `about:blank` with the same status), and tusport's own fields (`code`, `message`) beside them, so
 * a log or a client sees the same named code as on the tus side. Anything else (hook rejections,
 * store failures, the unexpected) goes on to tusport's error handler.
 */
export function sendProblem(runtime: EndpointRuntime, request: FastifyRequest, reply: FastifyReply, version: InteropVersion | undefined, error: unknown): FastifyReply {
  if (isHookRejection(error) || !isCodedError(error)) throw error;
  const name = PROBLEM_OF_CODE[error.code];
  const problem = name ? PROBLEMS[name] : undefined;
  const status = problem?.status ?? error.statusCode;
  const body: Record<string, unknown> = {
    type: problem && version && version.version >= problem.since ? problem.type : 'about:blank',
    title: problem?.title ?? STATUS_CODES[status] ?? 'Error',
    status,
    detail: error.message,
    statusCode: status,
    code: error.code,
    error: STATUS_CODES[status] ?? 'Error',
    message: error.message,
  };
  // "A server responding with a 413 ... as a result of its upload limits MUST include the Upload-Limit header".
  const limits = status === 413 && version ? uploadLimit(runtime, version, fullLifetime(runtime)) : undefined;
  if (limits) reply.header('Upload-Limit', limits);
  if (name === 'mismatchingOffset') {
    body['expected-offset'] = Number(reply.getHeader('upload-offset'));
    body['provided-offset'] = Number(request.headers['upload-offset']);
  }
  return reply.code(status).type('application/problem+json').send(JSON.stringify(body));
}
