import type { FastifyBaseLogger } from 'fastify';
import { type CodedError, Errors, isCodedError } from '../errors.js';
import { describeS3Error } from '../stores/s3/errors.js';

const OUT_OF_SPACE = new Set(['ENOSPC', 'EDQUOT']);

/** Whether an error came from a store (an S3 SDK error, or a filesystem error with an errno code). */
export function isStorageFailure(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false;
  if ('$metadata' in error || describeS3Error(error) !== undefined) return true;
  const code = (error as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && 'syscall' in error;
}

/**
 * Turn a store failure into an answer a client can act on: 507 when the disk is full (retry
 * later; what was received is kept), 503 for anything else (S3 down or refusing, a disk error). The cause is logged, not sent.
 */
export function storageError(error: unknown, log: FastifyBaseLogger, uploadId?: string): CodedError {
  if (isCodedError(error)) return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code && OUT_OF_SPACE.has(code)) {
    log.warn({ uploadId, code }, 'upload store is out of space');
    return new Errors.STORAGE_FULL();
  }
  // Name the cause (wrong credentials, missing bucket, S3 unreachable) so the log says what to fix.
  const cause = describeS3Error(error);
  log.error({ uploadId, err: error, ...(cause ? { cause } : {}) }, cause ? `upload store failed: ${cause}` : 'upload store failed');
  return new Errors.STORAGE_FAILED();
}
