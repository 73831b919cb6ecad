import createError from '@fastify/error';

/** What the direct-to-S3 routes answer besides the core's errors (src/errors.ts). */
export const DirectErrors = {
  BAD_REQUEST: createError('TUSPORT_ERR_DIRECT_BAD_REQUEST', 'Invalid request: %s', 400),
  BAD_PART_NUMBER: createError('TUSPORT_ERR_DIRECT_PART_NUMBER', 'Part number must be an integer from 1 to 10000, got %s', 400),
  PARTS_REJECTED: createError('TUSPORT_ERR_DIRECT_PARTS', 'S3 refused to complete the upload with these parts: %s', 400),
  NOT_UPLOADED: createError('TUSPORT_ERR_DIRECT_NOT_UPLOADED', 'The file has not arrived in the bucket yet; upload it with the presigned POST first', 409),
  WRONG_MODE: createError('TUSPORT_ERR_DIRECT_MODE', 'This upload was started as a %s upload; use its routes', 409),
  TOO_LARGE: createError('TUSPORT_ERR_DIRECT_TOO_LARGE', 'The uploaded object is %s bytes; the limit is %s bytes (the endpoint\'s maxSize, or its upload token\'s); the upload was deleted', 413),
};
