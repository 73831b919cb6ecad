import { AsyncLocalStorage } from 'node:async_hooks';
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/types.js';
import type { TemplateParams } from './template.js';

/**
 * What one tus request resolved before the protocol layer runs: which endpoint, which template
 * params, where its uploads live, and who is asking.
 *
 * Fastify code reads it from `request.uploadContext`. @tus/server does not pass our request
 * through to its hooks and store calls (it builds a web Request of its own), so for the
 * duration of its handler the same object is also held in AsyncLocalStorage; that is the only
 * way @tus/server's `namingFunction`, `onUploadCreate` and store calls can see it.
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
  /** Id chosen for the upload a POST is creating (decided before @tus/server runs). */
  newUploadId?: string | undefined;
  /** Set once this request made the store entry of `newUploadId`: only then may a refusal remove it. */
  createdUpload?: boolean | undefined;
  /** Run with the status of @tus/server's answer before it goes out (creation cleans up a refusal). */
  beforeAnswer?: ((status: number) => Promise<void>) | undefined;
  /** Metadata a pre-create hook replaced the client's with (handed to @tus/server's onUploadCreate). */
  newMetadata?: Record<string, string> | undefined;
  /**
   * A creating POST with a deferred length and a body of unknown length: the most bytes its
   * owner's quota lets that body bring, and the error for a body that goes past them.
   */
  creationBodyQuota?: { limit: number; exceeded: () => Error } | undefined;
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

const storage = new AsyncLocalStorage<UploadContext>();

export function runWithUploadContext<T>(context: UploadContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentUploadContext(): UploadContext {
  const context = storage.getStore();
  if (!context) throw new Error('tusport: no upload context (store called outside a tus request)');
  return context;
}
