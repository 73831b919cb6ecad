import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/types.js';
import type { TemplateParams } from './template.js';

/**
 * What one request resolved before the protocol layer runs: which endpoint, which template
 * params, where its uploads live, and who is asking. Fastify code reads it from
 * `request.uploadContext`; the upload core (src/uploads/) is handed it explicitly.
 */
export interface UploadContext {
  /** The endpoint's URL template, e.g. `/users/{username}/uploads`. */
  endpoint: string;
  params: TemplateParams;
  /** Resolved store location for these params (disk: absolute directory). */
  place: string;
  /** URL path of the endpoint for these params: `/users/alice/uploads`. */
  basePath: string;
  /**
   * Base of the URLs we hand out: `server.publicUrl` (may end in a path prefix), else `proto://host`
   * as the client reached us (forwarded headers only from trusted proxies).
   */
  origin: string;
  /** The client's address (trusted proxies' X-Forwarded-For or Forwarded `for` believed). */
  clientAddress?: string | undefined;
  /** Upload id from the URL, for requests on an upload URL. */
  uploadId?: string | undefined;
  /**
   * A GET authorised by a signed download link instead of the endpoint's auth (src/files/links.ts):
   * it may read the one upload its URL names, whoever owns it, until `expiresAt` (ms).
   */
  link?: { expiresAt: number } | undefined;
  /** Who is asking, once auth has run; null on anonymous endpoints. */
  principal: Principal | null;
  /** The principal's id: what new uploads record as their owner. */
  owner: string | null;
  log: FastifyBaseLogger;
  /** The request itself, for what hooks are told about it (method, URI, headers, address). */
  request?: FastifyRequest | undefined;
}
