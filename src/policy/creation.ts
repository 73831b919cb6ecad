import createError from '@fastify/error';
import { Metadata } from '@tus/server';
import type { FastifyRequest } from 'fastify';
import { type AcceptRules, declaredAccepted } from './accept.js';
import type { PolicyConfig } from './schema.js';

export const PolicyErrors = {
  TYPE_NOT_ACCEPTED: createError('TUSPORT_ERR_TYPE_NOT_ACCEPTED', 'File type not accepted here: %s. Accepted: %s', 415),
  CONTENT_NOT_ACCEPTED: createError(
    'TUSPORT_ERR_CONTENT_NOT_ACCEPTED',
    'The uploaded bytes are %s, which is not accepted here (accepted: %s); the upload was deleted',
    415,
  ),
  METADATA_REQUIRED: createError('TUSPORT_ERR_METADATA_REQUIRED', 'Upload-Metadata must include %s', 400),
  METADATA_VALUE_TOO_LARGE: createError('TUSPORT_ERR_METADATA_VALUE_TOO_LARGE', 'Upload-Metadata value of "%s" is %s bytes; the limit is %s bytes', 400),
};

/** The decoded metadata of a creation request (headers were validated by the preconditions). */
export function creationMetadata(request: FastifyRequest): Record<string, string | null> {
  const header = request.headers['upload-metadata'];
  return typeof header === 'string' ? Metadata.parse(header) : {};
}

/** What an endpoint's policy says about a new upload, before anything is created. */
export function checkCreationPolicy(policy: PolicyConfig, accept: AcceptRules | undefined, metadata: Record<string, string | null>): void {
  const missing = policy.requiredMetadata.filter((key) => metadata[key] === undefined || metadata[key] === null || metadata[key] === '');
  if (missing.length > 0) throw new PolicyErrors.METADATA_REQUIRED(missing.map((k) => `"${k}"`).join(', '));
  for (const [key, value] of Object.entries(metadata)) {
    const size = value === null ? 0 : Buffer.byteLength(value);
    if (size > policy.maxMetadataValueSize) throw new PolicyErrors.METADATA_VALUE_TOO_LARGE(key.slice(0, 64), size, policy.maxMetadataValueSize);
  }
  if (accept && !declaredAccepted(accept, metadata)) {
    const declared = [metadata.filetype && `type "${metadata.filetype}"`, metadata.filename && `name "${metadata.filename}"`].filter(Boolean).join(', ');
    throw new PolicyErrors.TYPE_NOT_ACCEPTED(declared || 'no filetype or filename declared', accept.list.join(', '));
  }
}
