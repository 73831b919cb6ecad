import createError from '@fastify/error';

/**
 * Every error tusport answers with has a stable code and an HTTP status, so clients, logs and
 * tests can tell them apart without parsing messages. `%s` placeholders are filled by the caller.
 */
export const Errors = {
  MISSING_TUS_RESUMABLE: createError('TUSPORT_ERR_TUS_RESUMABLE', 'Tus-Resumable header must be 1.0.0', 412),
  INVALID_HEADER: createError('TUSPORT_ERR_INVALID_HEADER', 'Invalid %s header: %s', 400),
  INVALID_PARAM: createError('TUSPORT_ERR_INVALID_PARAM', "Invalid value for URL parameter '%s': %s", 400),
  METADATA_TOO_LARGE: createError('TUSPORT_ERR_METADATA_TOO_LARGE', 'Upload-Metadata is %s bytes; the limit is %s bytes', 400),
  UPLOAD_NOT_FOUND: createError('TUSPORT_ERR_NOT_FOUND', 'Upload not found', 404),
  UPLOAD_EXPIRED: createError('TUSPORT_ERR_EXPIRED', 'Upload has expired', 410),
  // 409, not 404: the upload is there (HEAD says 200), it just cannot be downloaded until its last byte is in.
  UPLOAD_INCOMPLETE: createError('TUSPORT_ERR_UPLOAD_INCOMPLETE', 'The upload is not finished yet: %s of %s bytes received', 409),
  OFFSET_MISMATCH: createError('TUSPORT_ERR_OFFSET_MISMATCH', 'Upload-Offset %s does not match the current offset %s', 409),
  INVALID_CONTENT_TYPE: createError('TUSPORT_ERR_CONTENT_TYPE', 'PATCH requests must have Content-Type: application/offset+octet-stream', 415),
  CHUNK_TOO_LARGE: createError('TUSPORT_ERR_CHUNK_TOO_LARGE', 'Request body exceeds this endpoint\'s maxChunkSize of %s bytes', 413),
  UPLOAD_TOO_LARGE: createError('TUSPORT_ERR_UPLOAD_TOO_LARGE', 'Upload-Length %s exceeds this endpoint\'s maxSize of %s bytes', 413),
  PAST_MAX_SIZE: createError('TUSPORT_ERR_PAST_MAX_SIZE', 'Request body would take this upload past its maxSize of %s bytes (the endpoint\'s, or its upload token\'s if smaller)', 413),
  LENGTH_REQUIRED: createError('TUSPORT_ERR_LENGTH_REQUIRED', 'PATCH requests to this endpoint must carry Content-Length (its S3 store cannot take back bytes of an over-long body)', 411),
  ROUTE_NOT_FOUND: createError('TUSPORT_ERR_ROUTE_NOT_FOUND', 'No endpoint serves %s %s', 404),
  PAST_UPLOAD_LENGTH: createError('TUSPORT_ERR_PAST_UPLOAD_LENGTH', 'Request body goes past Upload-Length: %s bytes remain, %s sent', 413),
  LENGTH_ALREADY_SET: createError('TUSPORT_ERR_LENGTH_ALREADY_SET', 'Upload-Length is already set for this upload', 400),
  LOCKED: createError('TUSPORT_ERR_LOCKED', 'Another request holds this upload; retry shortly', 423),
  STORAGE_FULL: createError('TUSPORT_ERR_STORAGE_FULL', 'The upload store is out of space; bytes received so far are kept, retry later', 507),
  STORAGE_FAILED: createError('TUSPORT_ERR_STORAGE', 'The upload store failed; retry later', 503),
  UPLOAD_ID_TAKEN: createError('TUSPORT_ERR_UPLOAD_ID_TAKEN', 'The upload id is already taken', 409),
  BAD_URL: createError('TUSPORT_ERR_BAD_URL', 'The URL path is not valid: a percent-encoded part of it is not UTF-8', 400),
  URL_TOO_LONG: createError('TUSPORT_ERR_URL_TOO_LONG', 'A URL path segment is too long', 414),
} as const;

export type TusportErrorCode = keyof typeof Errors;

/** An error created from `Errors`, carrying its `code` and `statusCode`. */
export interface CodedError extends Error {
  code: string;
  statusCode: number;
}

export function isCodedError(value: unknown): value is CodedError {
  return value instanceof Error && typeof (value as CodedError).statusCode === 'number' && typeof (value as CodedError).code === 'string';
}
