import createError from '@fastify/error';

/**
 * Errors of the finalize step (moving a finished upload to its templated path). Kept apart from
 * `src/errors.ts` so the step is self-contained; merge into `Errors` when it is wired in.
 */
export const FinalizeErrors = {
  /** `overwrite: false` (or `'rename'` with every numbered name taken) and the name exists. */
  FINAL_PATH_TAKEN: createError('TUSPORT_ERR_FINAL_PATH_TAKEN', 'The final path %s is already taken', 409),
  /**
   * A rendered or recorded final path that is absolute, climbs out, or leaves the store via a symlink:
   * the store (or its config) needs fixing, so 503 while it does; the upload stays complete.
   */
  FINAL_PATH_UNSAFE: createError('TUSPORT_ERR_FINAL_PATH_UNSAFE', 'Refusing final path %s: %s', 503),
} as const;
