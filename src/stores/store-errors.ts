import createError from '@fastify/error';

/** Errors of the stores themselves (not of a request's input). */
export const StoreErrors = {
  /**
   * A store directory resolves outside the store root (a symlink inside the store). Nothing is
   * read, written or removed there; the store needs fixing, so it is 503, never the client's fault.
   */
  OUTSIDE_STORE: createError('TUSPORT_ERR_OUTSIDE_STORE', 'The upload store refused a location: %s %s', 503),
} as const;
