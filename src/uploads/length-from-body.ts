import type { FastifyRequest } from 'fastify';

/**
 * A creation whose length is its body's, whatever that turns out to be: the IETF draft's complete
 * upload sent without Content-Length (chunked) or Upload-Length ("Upload-Complete: ?1 ... the
 * request content is the remaining representation data"). The door marks the request; the
 * creation path then stores the body under a deferred length and, once the body has arrived whole,
 * declares the length it has and completes the upload. Requests not marked are untouched.
 */
const marked = new WeakSet<FastifyRequest>();

export function lengthIsBody(request: FastifyRequest): void {
  marked.add(request);
}

export function isLengthBody(request: FastifyRequest): boolean {
  return marked.has(request);
}
