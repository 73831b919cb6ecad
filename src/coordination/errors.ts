import createError from '@fastify/error';

/**
 * Errors of shared coordination (Redis). Both are answers a client can act on by retrying:
 * tus-js-client and Uppy retry 423 and 5xx. Messages name Redis by `redisLabel` only (never its
 * credentials).
 */
export const CoordinationErrors = {
  /** Redis (which holds the upload locks) does not answer: nothing was read or written. */
  UNAVAILABLE: createError('TUSPORT_ERR_COORDINATION_UNAVAILABLE', 'Redis at %s is unreachable; retry later', 503),
  /**
   * This request's lock on the upload lapsed (its lease was not renewed in time: Redis was
   * unreachable or this instance stalled) and another request may hold it now, so this one stopped
   * writing. Bytes stored before are kept: resume from the offset a HEAD reports.
   */
  LEASE_LOST: createError('TUSPORT_ERR_LOCK_LOST', 'This request lost its lock on the upload (lease expired) and stopped writing; resume from the offset a HEAD reports', 423),
} as const;
