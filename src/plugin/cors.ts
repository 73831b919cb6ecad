import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ResolvedConfig } from '../config/schema.js';
import { IETF_HEADERS } from '../protocols/ietf/versions.js';

/** Headers a browser client must be allowed to send and to read (tus over CORS). */
const TUS_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'Tus-Resumable',
  'Upload-Checksum',
  'Upload-Concat',
  'Upload-Defer-Length',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Offset',
  'X-HTTP-Method-Override',
  'X-Requested-With',
  // The IETF resumable-upload draft (src/protocols/ietf/).
  ...IETF_HEADERS,
];
const TUS_RESPONSE_HEADERS = [
  'Location',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Expires',
  'Upload-Defer-Length',
  'Upload-Concat',
  'Tus-Version',
  'Tus-Resumable',
  'Tus-Max-Size',
  'Tus-Extension',
  'Tus-Checksum-Algorithm',
  'X-Request-Id',
  'WWW-Authenticate',
  ...IETF_HEADERS,
];
const METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS';

/**
 * tusport's CORS policy (`cors` in the config) on the routes of `scope` only.
 *
 * Not @fastify/cors: it cannot be registered a second time in an app that already uses it (its
 * request decorator collides), and it adds an `OPTIONS /*` route that, with tusport mounted
 * without a prefix, would answer preflights for the host's own URLs with tusport's policy.
 *
 * A host's app-wide CORS runs before this hook on tusport's routes too (Fastify runs a parent's
 * hooks on its children's routes). Whatever Access-Control-* headers it set are replaced here,
 * and the routes carry `config.cors = false`, @fastify/cors's per-route opt-out, so a host's
 * @fastify/cors leaves tusport's preflights to tusport.
 */
export function registerCors(scope: FastifyInstance, cors: ResolvedConfig['cors']): void {
  const origins = cors.origins === '*' ? undefined : new Set(cors.origins);
  const exposed = TUS_RESPONSE_HEADERS.join(', ');
  const allowedHeaders = TUS_REQUEST_HEADERS.join(', ');
  const maxAge = String(Math.round(cors.maxAge / 1000));

  scope.addHook('onRoute', (route) => {
    route.config = { ...route.config, cors: false };
  });
  scope.addHook('onRequest', async (request, reply) => {
    for (const name of Object.keys(reply.getHeaders())) {
      if (name.startsWith('access-control-')) reply.removeHeader(name);
    }
    const origin = request.headers.origin;
    if (!origins) {
      reply.header('Access-Control-Allow-Origin', '*');
    } else {
      // The answer depends on Origin: caches must keep one per origin.
      addVary(reply, 'Origin');
      if (origin !== undefined && origins.has(origin)) reply.header('Access-Control-Allow-Origin', origin);
    }
    if (cors.credentials) reply.header('Access-Control-Allow-Credentials', 'true');
    reply.header('Access-Control-Expose-Headers', exposed);
    // Only a real preflight (it names Access-Control-Request-Method) is answered here; a plain
    // OPTIONS is tus discovery and must reach the endpoint for Tus-Version/Tus-Extension.
    if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) {
      reply.header('Access-Control-Allow-Methods', METHODS).header('Access-Control-Allow-Headers', allowedHeaders).header('Access-Control-Max-Age', maxAge);
      return reply.code(204).send();
    }
  });
}

function addVary(reply: FastifyReply, name: string): void {
  const current = reply.getHeader('vary');
  const list = current === undefined ? [] : String(current).split(',').map((value) => value.trim()).filter(Boolean);
  if (list.includes('*') || list.some((value) => value.toLowerCase() === name.toLowerCase())) return;
  reply.header('Vary', [...list, name].join(', '));
}
