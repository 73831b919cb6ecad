import type { FastifyRequest } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { linkParameters, verifyDownloadLink } from './links.js';

/**
 * For a GET of an upload URL carrying `expires`/`sig` on an endpoint with `downloads.linkSecret`:
 * check the link (403 when tampered, expired or for another URL) and let it stand in for the
 * endpoint's auth. False when the request is not a link request (the endpoint's auth then runs).
 */
export function acceptDownloadLink(runtime: EndpointRuntime, request: FastifyRequest, context: UploadContext): boolean {
  const secret = runtime.config.downloads.linkSecret;
  if (!secret || request.method !== 'GET' || context.uploadId === undefined) return false;
  const link = linkParameters(request.query);
  if (!link) return false;
  const pathname = request.url.split('?', 1)[0] ?? '';
  context.link = { expiresAt: verifyDownloadLink(pathname, link, secret, runtime.config.downloads.linkMaxAge) };
  return true;
}
