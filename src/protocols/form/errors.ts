import createError from '@fastify/error';

/** What a form POST can be refused for, each with its own code (the body is never a 5xx's fault). */
export const FormErrors = {
  MALFORMED: createError('TUSPORT_ERR_FORM_MALFORMED', 'The multipart/form-data body is malformed: %s', 400),
  NO_FILES: createError('TUSPORT_ERR_FORM_NO_FILES', 'The form carries no file: send at least one file part (Content-Disposition: form-data; name="file"; filename="...")', 400),
  MISSING_FILENAME: createError('TUSPORT_ERR_FORM_MISSING_FILENAME', 'The file part in field "%s" has no filename; every file part needs one', 400),
  FILE_FIELD: createError('TUSPORT_ERR_FORM_FILE_FIELD', 'Field "%s" may not carry a file here; file fields: %s', 400),
  TOO_MANY_FILES: createError('TUSPORT_ERR_FORM_TOO_MANY_FILES', 'The form carries more than %s files; nothing was stored', 413),
  TOO_MANY_FIELDS: createError('TUSPORT_ERR_FORM_TOO_MANY_FIELDS', 'The form carries more than %s non-file fields; nothing was stored', 413),
  FIELD_TOO_LARGE: createError('TUSPORT_ERR_FORM_FIELD_TOO_LARGE', 'Field "%s" is longer than %s bytes; nothing was stored', 413),
  FILE_TOO_LARGE: createError('TUSPORT_ERR_FORM_FILE_TOO_LARGE', 'File "%s" is larger than this endpoint\'s maxSize of %s bytes; nothing was stored', 413),
  CLIENT_GONE: createError('TUSPORT_ERR_FORM_CLIENT_GONE', 'The client went away before the form was complete; nothing was stored', 400),
};
