import type { FastifyBaseLogger } from 'fastify';
import { type CodedError, Errors, isCodedError } from '../errors.js';

const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/**
 * Turn a store failure into an answer a client can act on: 507 when the disk is full (retry
 * later; what was received is kept), 503 for anything else. The cause is logged, not sent.
 */
export function storageError(error: unknown, log: FastifyBaseLogger, uploadId?: string): CodedError {
  if (isCodedError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && OUT_OF_SPACE.has(code)) {
    log.warn({ uploadId, code }, 'upload store is out of space');
    return new Errors.STORAGE_FULL();
  }
  log.error({ uploadId, err: error }, 'upload store failed');
  return new Errors.STORAGE_FAILED();
}
