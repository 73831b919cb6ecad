import type { FastifyRequest } from 'fastify';

/**
 * A door may want to tell its client where a new upload lives before the creation's body is read
 * (the IETF draft's 104 Upload Resumption Supported: a client that loses the connection during
 * its first request can then resume instead of starting over). The creation path calls
 * `announceLocation` once the upload exists and before it reads a byte; a door that cares
 * registers a listener for its request. Requests without one are untouched.
 */
const listeners = new WeakMap<FastifyRequest, (location: string) => boolean>();

/** `listener` returns whether the client was told (it may then resume the upload if the request breaks). */
export function onUploadLocated(request: FastifyRequest, listener: (location: string) => boolean): void {
  listeners.set(request, listener);
}

/** Whether the client was told where the upload is (so it may resume it, and it must be kept). */
export function announceLocation(request: FastifyRequest, location: string): boolean {
  return listeners.get(request)?.(location) ?? false;
}
