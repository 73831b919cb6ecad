import type { FastifyRequest } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import type { StoredUpload } from '../stores/backend.js';

/**
 * A creation or append whose length ends with its body, whatever that turns out to be: the IETF draft's complete
 * upload sent without Content-Length (chunked) or Upload-Length ("Upload-Complete: ?1 ... the
 * request content is the remaining representation data"). The door marks the request; the
 * creation and append paths then store the body under the deferred length and, once the body has
 * arrived whole, declare the length the upload has and complete it. Requests not marked are untouched.
 */
const marked = new WeakSet<FastifyRequest>();

export function lengthIsBody(request: FastifyRequest): void {
  marked.add(request);
}

export function isLengthBody(request: FastifyRequest): boolean {
  return marked.has(request);
}

/** Declare a deferred length as the bytes the upload has (counted against the owner's quota as such). */
export async function settleLengthAtOffset(runtime: EndpointRuntime, context: UploadContext, stored: StoredUpload): Promise<void> {
  await runtime.quota.resize(stored.sidecar, stored.offset);
  await runtime.store.setLength(context, stored, stored.offset);
}
