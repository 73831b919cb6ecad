import type { EndpointRuntime } from '../../endpoints/runtime.js';
import type { InteropVersion } from './versions.js';

/**
 * Upload-Limit (an RFC 8941 dictionary, the draft's "Limits" section) from the endpoint's limits:
 * `max-size` from maxSize, `max-append-size` from maxChunkSize, and the upload's remaining lifetime
 * in seconds (`max-age`; `expires` in interop 6) when it has one. `min-size=0` when there is none
 * of these (-05 to -08: "MUST use min-size=0 instead of an empty header value"). tusport has no
 * minimum append size, so never `min-append-size`. Undefined for versions without the header (3 to 5).
 */
export function uploadLimit(runtime: EndpointRuntime, version: InteropVersion, lifetimeSeconds: number | undefined): string | undefined {
  if (!version.uploadLimit) return undefined;
  const { config } = runtime;
  const limits: string[] = [];
  if (config.maxSize !== undefined) limits.push(`max-size=${config.maxSize}`);
  if (config.maxChunkSize !== undefined) limits.push(`max-append-size=${config.maxChunkSize}`);
  if (lifetimeSeconds !== undefined) limits.push(`${version.uploadLimit.lifetimeKey}=${lifetimeSeconds}`);
  return limits.length > 0 ? limits.join(', ') : 'min-size=0';
}

/** Before an upload exists (OPTIONS) or as it is created (the 104): all of the endpoint's `expire`. */
export function fullLifetime(runtime: EndpointRuntime): number | undefined {
  return runtime.config.expire === undefined ? undefined : Math.floor(runtime.config.expire / 1000);
}

/**
 * What is left of a stored upload's lifetime, from the `Upload-Expires` date the tus handler put
 * on its answer (absent once the upload is complete: finished uploads never expire).
 */
export function lifetimeFromExpires(expires: unknown, now = Date.now()): number | undefined {
  const at = typeof expires === 'string' ? Date.parse(expires) : Number.NaN;
  return Number.isNaN(at) ? undefined : Math.max(0, Math.floor((at - now) / 1000));
}
