import createError from '@fastify/error';

/** Errors of downloads, signed links and claims (src/files/). */
export const FileErrors = {
  RANGE_NOT_SATISFIABLE: createError('TUSPORT_ERR_RANGE_NOT_SATISFIABLE', 'Range %s is not satisfiable: the upload has %s bytes', 416),
  PRECONDITION_FAILED: createError('TUSPORT_ERR_PRECONDITION_FAILED', 'Precondition failed: %s', 412),
  LINK_INVALID: createError('TUSPORT_ERR_LINK_INVALID', 'The download link is not valid: %s', 403),
  LINK_EXPIRED: createError('TUSPORT_ERR_LINK_EXPIRED', 'The download link expired at %s; ask for a new one', 403),
  CLAIM_UNFINISHED: createError('TUSPORT_ERR_CLAIM_UNFINISHED', 'The upload cannot be claimed before it is finished: %s of %s bytes received', 409),
  CLAIM_EXPIRED: createError('TUSPORT_ERR_CLAIM_EXPIRED', 'The upload was not claimed in time (it expired at %s) and is being removed', 410),
  CLAIM_INVALID: createError('TUSPORT_ERR_CLAIM_INVALID', 'Invalid claim: %s', 400),
  CLAIM_UNKNOWN_ENDPOINT: createError('TUSPORT_ERR_CLAIM_ENDPOINT', 'No endpoint %s with claim enabled', 404),
} as const;
