import createError from '@fastify/error';
import { SERVED_INTEROP_VERSIONS } from './versions.js';

/** Errors of the IETF door (draft-ietf-httpbis-resumable-upload); answered as problem details. */
export const IetfErrors = {
  INTEROP_VERSION: createError('TUSPORT_ERR_IETF_INTEROP_VERSION', `Upload-Draft-Interop-Version %s is not served here; served: ${SERVED_INTEROP_VERSIONS.join(', ')}`, 400),
  COMPLETE_HEADER: createError('TUSPORT_ERR_IETF_UPLOAD_COMPLETE', '%s', 400),
  MEDIA_TYPE: createError('TUSPORT_ERR_IETF_MEDIA_TYPE', 'An append in interop version %s must have Content-Type: %s', 415),
  COMPLETED_UPLOAD: createError('TUSPORT_ERR_IETF_COMPLETED_UPLOAD', 'The upload is already complete (%s bytes); nothing more can be appended', 400),
  INCONSISTENT_LENGTH: createError('TUSPORT_ERR_IETF_INCONSISTENT_LENGTH', 'Inconsistent upload length: %s', 400),
  STATE_HEADER: createError('TUSPORT_ERR_IETF_STATE_HEADER', 'A %s must not carry %s in interop version %s (only creations and appends say where an upload stands)', 400),
};
