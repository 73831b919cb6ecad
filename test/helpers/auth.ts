import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { createAuthenticator } from '../../src/auth/authenticate.js';
import { type AuthConfig, AuthSchema } from '../../src/auth/schema.js';
import { parseUrlTemplate } from '../../src/endpoints/template.js';
import { raw, type RawResponse } from './http.js';

/** Shared by the auth tests: a loopback Fastify per auth config, raw requests, 401/403 checks. */

export const TEMPLATE = '/users/{username}/uploads';
export const SECRET = 'a-very-long-shared-secret-for-tests-0123456789';
export const now = () => Math.floor(Date.now() / 1000);
const servers: FastifyInstance[] = [];

/** Close every server `start` (or `track`) opened in this test file. */
export const closeAll = () => Promise.all(servers.splice(0).map((server) => server.close()));

/** Listen on loopback and remember the server for `closeAll`; returns its base URL. */
export async function track(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  servers.push(app);
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

/** A real Fastify on loopback whose one route answers with what the authenticator returns. */
export async function start(auth: AuthConfig, template = TEMPLATE): Promise<string> {
  const authenticate = createAuthenticator(AuthSchema.parse(auth), template);
  const app = Fastify();
  app.setErrorHandler((error: FastifyError, _request, reply) =>
    reply.code(error.statusCode ?? 500).send({ statusCode: error.statusCode ?? 500, code: error.code, message: error.message }),
  );
  app.get(parseUrlTemplate(template).routePath, async (request, reply) => ({ principal: await authenticate(request, reply, request.params as Record<string, string>) }));
  return track(app);
}

export const get = (url: string, path: string, headers: Record<string, string> = {}) => raw(url, { method: 'GET', path, headers });
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const body = (response: RawResponse) => JSON.parse(response.body) as { principal?: Record<string, unknown>; code?: string; message?: string };

/** A 401 with a Bearer challenge whose body and headers never repeat the token. */
export function expect401(response: RawResponse, error: string | null = 'invalid_token', token?: string, realm = 'tusport'): string {
  expect(response.status).toBe(401);
  expect(body(response).code).toBe('TUSPORT_ERR_UNAUTHORIZED');
  const challenge = String(response.headers['www-authenticate']);
  expect(challenge).toMatch(new RegExp(`^Bearer realm="${realm}"`));
  if (error) expect(challenge).toContain(`error="${error}"`);
  else expect(challenge).not.toContain('error=');
  if (token) expect(response.body + challenge).not.toContain(token);
  return body(response).message ?? '';
}

export function expect403(response: RawResponse): void {
  expect(response.status).toBe(403);
  expect(body(response).code).toBe('TUSPORT_ERR_FORBIDDEN');
  expect(String(response.headers['www-authenticate'])).toContain('error="insufficient_scope"');
}
