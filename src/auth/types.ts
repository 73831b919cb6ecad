import type { FastifyRequest } from 'fastify';

/** What a signed upload token allows: one endpoint, exact template params, optional limits. */
export interface SignedScope {
  /** The endpoint's URL template, e.g. `/users/{username}/uploads`. */
  endpoint: string;
  /** Exactly the template params the token is good for. */
  params: Record<string, string>;
  /** Largest upload the token allows, in bytes. */
  maxSize?: number;
  /** MIME patterns / extensions the upload must match (same syntax as an endpoint's `accept`). */
  accept?: string[];
  /** Expiry, unix seconds. */
  exp: number;
}

/** Who made a request, as established by an endpoint's `auth`. */
export interface Principal {
  id: string;
  claims: Record<string, unknown>;
  /** True when the `admin` rule matched (or `authorize` said so): `bind` is not enforced. */
  admin: boolean;
  /** Set for `signed` tokens: the routes must also honour `maxSize` and `accept`. */
  scope?: SignedScope;
}

/** What a library `authorize` function returns; null/undefined means "not authenticated" (401). */
export type AuthorizeResult = { id: string; claims?: Record<string, unknown>; admin?: boolean } | null | undefined;

/**
 * Library-only authentication: gets the request, the endpoint's template params and the token
 * found per `tokenFrom` (undefined when none). Throw an AuthErrors error for a specific status.
 */
export type AuthorizeFunction = (
  request: FastifyRequest,
  params: Record<string, string>,
  token: string | undefined,
) => Promise<AuthorizeResult> | AuthorizeResult;
