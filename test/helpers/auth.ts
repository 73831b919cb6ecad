import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { AuthConfig } from '../../src/auth/schema.js';
import { parseUrlTemplate } from '../../src/endpoints/template.js';
import type { TusdHookRequest } from './hooks.js';
import { raw, type RawResponse, TUS } from './http.js';
import { startTusport } from './server.js';

/**
 * Shared by the auth tests: a real tusport per auth config (one endpoint on the template, its own
 * error handling, challenges and 401/403 bodies), tus creation requests, 401/403 checks. The
 * principal an accepted request was given is read back from the pre-create hook tusport calls
 * with it, matched by request id.
 */

export const TEMPLATE = '/users/{username}/uploads';
export const SECRET = 'a-very-long-shared-secret-for-tests-0123456789';
export const now = () => Math.floor(Date.now() / 1000);
const closers: (() => Promise<void>)[] = [];

/** Close every server `start` (or `track`) opened in this test file. */
export const closeAll = () => Promise.all(closers.splice(0).map((close) => close()));

/** Listen on loopback and remember the server for `closeAll`; returns its base URL. */
export async function track(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  const address = app.server.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

type HookPrincipal = TusdHookRequest['Tusport']['Principal'];
/** The principal of each accepted creation, by request id. */
const principals = new Map<string, HookPrincipal>();
let requests = 0;

/** A real tusport on loopback with one endpoint on `template` guarded by `auth`; returns its base URL. */
export async function start(auth: AuthConfig, template = TEMPLATE): Promise<string> {
  const params = parseUrlTemplate(template).params;
  const server = await startTusport((dir) => ({
    endpoints: [
      {
        path: template,
        store: { type: 'disk', directory: path.join(dir, 'store', ...params.map((name) => `{${name}}`)) },
        auth,
        hooks: [
          {
            type: 'function',
            // Every claim the auth tests give a principal (hooks get only the listed ones).
            principalClaims: ['sub', 'name', 'iss', 'uid', 'token', 'param', 'role'],
            handlers: {
              'pre-create': (request: TusdHookRequest) => {
                principals.set(request.Tusport.RequestID ?? '', request.Tusport.Principal);
                return {};
              },
            },
          },
        ],
      },
    ],
  }));
  closers.push(() => server.close());
  return server.url;
}

/** A tus creation request (POST, one byte announced) to `path`; 201 when auth lets it through. */
export const create = (url: string, path: string, headers: Record<string, string> = {}) =>
  raw(url, { method: 'POST', path, headers: { ...TUS, 'Upload-Length': '1', 'X-Request-Id': `auth-${process.pid}-${++requests}`, ...headers } });
export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
export const body = (response: RawResponse) => JSON.parse(response.body) as { code?: string; message?: string };

/** The principal tusport gave an accepted request (null for auth none), as `{ id, claims, admin }`. */
export function principalOf(response: RawResponse): { id: string; claims: Record<string, unknown>; admin: boolean } | null {
  expect(response.status, response.body).toBe(201);
  const id = String(response.headers['x-request-id']);
  expect(principals.has(id), `the pre-create hook saw request ${id}`).toBe(true);
  const principal = principals.get(id);
  return principal ? { id: principal.ID, claims: principal.Claims, admin: principal.Admin } : null;
}

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
