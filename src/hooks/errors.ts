import createError from '@fastify/error';
import type { FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import type { CodedError } from '../errors.js';
import type { HookEventName } from './events.js';
import type { HookHttpResponse } from './response.js';

/**
 * Errors of the hook system. A hook that says no is `TUSPORT_ERR_HOOK_REJECTED` (or `_STOPPED`)
 * with the status, body and headers the hook chose; a hook that could not answer properly is
 * `TUSPORT_ERR_HOOK_FAILED` (502: it answered, but wrongly) or `TUSPORT_ERR_HOOK_UNAVAILABLE`
 * (503: timed out or unreachable). Messages say what went wrong in a word, never the hook's
 * output, URL or a stack.
 */
export const HookErrors = {
  REJECTED: createError('TUSPORT_ERR_HOOK_REJECTED', '%s', 400),
  STOPPED: createError('TUSPORT_ERR_HOOK_STOPPED', '%s', 400),
  FAILED: createError('TUSPORT_ERR_HOOK_FAILED', 'The %s hook failed (%s); %s', 502),
  UNAVAILABLE: createError('TUSPORT_ERR_HOOK_UNAVAILABLE', 'The %s hook is unavailable (%s); %s', 503),
} as const;

/** What the client is told when a blocking hook fails closed: what did (not) happen and what to do. */
const AFTERMATH: Partial<Record<HookEventName, string>> = {
  'pre-create': 'no upload was created, retry later',
  'pre-finish': 'the upload is not finished and the bytes of this request were not kept; resume it from its offset',
  'pre-terminate': 'the upload was not deleted, retry later',
};

export type HookCallErrorKind = 'timeout' | 'unreachable' | 'status' | 'exit' | 'threw' | 'invalid';

/** One failed hook invocation, as a transport reports it. */
export class HookCallError extends Error {
  override readonly name = 'HookCallError';
  constructor(
    readonly kind: HookCallErrorKind,
    message: string,
    /** Worth another attempt right away (timeouts, unreachable receivers, 5xx/429). */
    readonly retryable = kind === 'timeout' || kind === 'unreachable',
    /** For the log only (a command's stderr, a function's error): never sent to the client. */
    readonly detail?: string,
  ) {
    super(message);
  }
}

/** The client-facing error for a blocking hook that failed closed. */
export function hookFailure(event: HookEventName, error: unknown): CodedError {
  const call = error instanceof HookCallError ? error : new HookCallError('invalid', 'threw an error');
  const aftermath = AFTERMATH[event] ?? 'retry later';
  return call.kind === 'timeout' || call.kind === 'unreachable'
    ? new HookErrors.UNAVAILABLE(event, call.message, aftermath)
    : new HookErrors.FAILED(event, call.message, aftermath);
}

/** A hook said no: the client gets the hook's status, body and headers. */
export interface HookRejection extends CodedError {
  hookResponse: { body: string | undefined; headers: Record<string, string> };
}

export function hookRejection(kind: 'REJECTED' | 'STOPPED', defaultMessage: string, response: HookHttpResponse | null | undefined): HookRejection {
  const error = new HookErrors[kind](defaultMessage);
  const status = response?.StatusCode ? response.StatusCode : error.statusCode;
  return Object.assign(error, {
    statusCode: status,
    hookResponse: { body: response?.Body || undefined, headers: { ...(response?.Header ?? {}) } },
  });
}

export function isHookRejection(error: unknown): error is HookRejection {
  return error instanceof Error && typeof (error as HookRejection).hookResponse === 'object';
}

/** Answer with what the rejecting hook asked for; without a body, tusport's usual JSON error. */
export function sendHookRejection(reply: FastifyReply, error: HookRejection): FastifyReply {
  const { body, headers } = error.hookResponse;
  reply.code(error.statusCode);
  for (const [name, value] of Object.entries(headers)) reply.header(name, value);
  if (body !== undefined) {
    if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) reply.type('text/plain; charset=utf-8');
    return reply.send(body);
  }
  return reply.type('application/json; charset=utf-8').send({
    statusCode: error.statusCode,
    code: error.code,
    error: STATUS_CODES[error.statusCode] ?? 'Error',
    message: error.message,
  });
}
