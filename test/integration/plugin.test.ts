import { readFile } from 'node:fs/promises';
import path from 'node:path';
import cors from '@fastify/cors';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import tusport, { type TusportPluginOptions } from '../../src/index.js';
import { randomFile, sha256 } from '../helpers/files.js';
import { raw, type RawRequest, type RawResponse, TUS } from '../helpers/http.js';
import { capturingLogger, tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

const HOST_ORIGIN = 'https://host.example';
const UPLOADER_ORIGIN = 'https://uploader.example';
const TOKEN = 'plugin-test-token-that-must-never-be-logged';

interface Host {
  app: FastifyInstance;
  url: string;
  logs: ReturnType<typeof capturingLogger>;
}

/**
 * A host app as a Fastify user writes one: its own CORS policy (@fastify/cors, app-wide), error
 * handler, 404 handler, body parsers and routes. `mount` adds tusport (or nothing, for the
 * reference host the other is compared with).
 */
async function startHost(mount?: (app: FastifyInstance) => Promise<void>): Promise<Host> {
  const logs = capturingLogger('info');
  const app = Fastify({ loggerInstance: logs.logger as FastifyBaseLogger });
  await app.register(cors, { origin: HOST_ORIGIN, credentials: true });
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    return reply.code(error.statusCode ?? 500).send({ host: 'error', message: error.message });
  });
  app.setNotFoundHandler((request, reply) => reply.code(404).send({ host: 'not-found', url: request.url }));
  app.get('/hello', async () => ({ hello: 'world' }));
  app.get('/boom', async () => {
    throw new Error('host failure');
  });
  app.post('/echo', async (request) => ({ echoed: request.body }));
  if (mount) await mount(app);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (typeof address !== 'object' || !address) throw new Error('no address');
  return { app, url: `http://127.0.0.1:${address.port}`, logs };
}

/** What the host's clients see of a response; `date` is the only header allowed to differ. */
function observable(response: RawResponse) {
  const { date: _date, ...headers } = response.headers;
  return { status: response.status, headers, body: response.body };
}

/** Requests to the host's own URLs (and to URLs nobody serves, outside tusport's prefix). */
const HOST_REQUESTS: RawRequest[] = [
  { method: 'GET', path: '/hello', headers: { Origin: HOST_ORIGIN } },
  { method: 'GET', path: '/hello', headers: { Origin: UPLOADER_ORIGIN } },
  { method: 'OPTIONS', path: '/hello', headers: { Origin: HOST_ORIGIN, 'Access-Control-Request-Method': 'PUT' } },
  { method: 'OPTIONS', path: '/hello' },
  { method: 'GET', path: '/boom', headers: { Origin: HOST_ORIGIN } },
  { method: 'GET', path: '/nowhere?x=1' },
  { method: 'GET', path: '/files' },
  { method: 'PATCH', path: '/files/abc', headers: { ...TUS, 'Content-Type': 'application/offset+octet-stream' }, body: 'abc' },
  { method: 'OPTIONS', path: '/files', headers: { Origin: UPLOADER_ORIGIN, 'Access-Control-Request-Method': 'PATCH' } },
  { method: 'GET', path: '/healthz' },
  { method: 'GET', path: '/uploadsx' },
  { method: 'POST', path: '/echo', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' },
  { method: 'POST', path: '/echo', headers: { 'Content-Type': 'text/plain' }, body: 'plain' },
  { method: 'POST', path: '/echo', headers: { 'Content-Type': 'application/json' }, body: '{broken' },
  { method: 'POST', path: '/echo', headers: { 'Content-Type': 'application/offset+octet-stream' }, body: 'bytes' },
];

function uploadsConfig(dir: string): TusportPluginOptions {
  return {
    cors: { origins: [UPLOADER_ORIGIN], credentials: true },
    endpoints: [
      {
        path: '/files',
        store: { type: 'disk', directory: path.join(dir, 'files') },
        auth: { type: 'bearer', tokens: [{ id: 'uploader', token: TOKEN }], tokenFrom: { header: true, query: 'token' } },
      },
    ],
  };
}

describe('tusport registered as a plugin in a host app', () => {
  let store: Awaited<ReturnType<typeof tempDir>>;
  let plain: Host;
  let host: Host;

  beforeAll(async () => {
    store = await tempDir();
    plain = await startHost();
    host = await startHost(async (app) => {
      await app.register(tusport, { prefix: '/uploads', ...uploadsConfig(store.dir) });
    });
  });
  afterAll(async () => {
    await host?.app.close();
    await plain?.app.close();
    await store?.remove();
  });

  it("leaves the host's routes, CORS, error handler, 404 and body parsers exactly as they were", async () => {
    for (const request of HOST_REQUESTS) {
      const without = observable(await raw(plain.url, request));
      const withTusport = observable(await raw(host.url, request));
      expect({ request, ...withTusport }).toEqual({ request, ...without });
    }
    // The comparison covers what matters: the host's answers are its own.
    const answers = await Promise.all(HOST_REQUESTS.slice(0, 7).map((request) => raw(host.url, request)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 204, 400, 500, 404, 404]);
    expect(answers[0]?.headers['access-control-allow-origin']).toBe(HOST_ORIGIN);
    expect(JSON.parse(answers[4]?.body ?? '')).toEqual({ host: 'error', message: 'host failure' });
    expect(JSON.parse(answers[5]?.body ?? '')).toEqual({ host: 'not-found', url: '/nowhere?x=1' });
    expect(answers[5]?.headers['x-request-id']).toBeUndefined();
  });

  it('uploads through the prefix with tus-js-client, byte-identical, with upload URLs under the prefix', async () => {
    const { file, sha } = await randomFile(store.dir, 'source.bin', 300_000);
    const { url } = await tusUpload(await readFile(file), {
      endpoint: `${host.url}/uploads/files`,
      chunkSize: 64 * 1024,
      headers: { Authorization: `Bearer ${TOKEN}` },
      metadata: { filename: 'source.bin' },
    });
    expect(url.startsWith(`${host.url}/uploads/files/`)).toBe(true);
    const id = url.split('/').pop() ?? '';
    expect(sha256(await readFile(path.join(store.dir, 'files', id)))).toBe(sha);
    const head = await raw(host.url, { method: 'HEAD', path: `/uploads/files/${id}`, headers: { ...TUS, Authorization: `Bearer ${TOKEN}` } });
    expect([head.status, head.headers['upload-offset']]).toEqual([200, '300000']);
  });

  it("answers its own routes with tusport's error JSON, 404 and X-Request-Id", async () => {
    const unauthenticated = await raw(host.url, { method: 'POST', path: '/uploads/files', headers: { ...TUS, 'Upload-Length': '1' } });
    expect(unauthenticated.status).toBe(401);
    expect(JSON.parse(unauthenticated.body)).toMatchObject({ statusCode: 401, code: 'TUSPORT_ERR_UNAUTHORIZED' });
    const noVersion = await raw(host.url, { method: 'POST', path: '/uploads/files', headers: { 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}` } });
    expect([noVersion.status, JSON.parse(noVersion.body).code]).toEqual([412, 'TUSPORT_ERR_TUS_RESUMABLE']);
    const missing = await raw(host.url, { method: 'GET', path: '/uploads/nothing-here' });
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'TUSPORT_ERR_ROUTE_NOT_FOUND', message: 'No endpoint serves GET /uploads/nothing-here' });
    expect(missing.headers['x-request-id']).toBeTruthy();
    const health = await raw(host.url, { method: 'GET', path: '/uploads/healthz' });
    expect([health.status, JSON.parse(health.body).status]).toEqual([200, 'ok']);
  });

  it("gives its own routes tusport's CORS, not the host's", async () => {
    const preflight = await raw(host.url, {
      method: 'OPTIONS',
      path: '/uploads/files',
      headers: { Origin: UPLOADER_ORIGIN, 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'tus-resumable,upload-offset' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe(UPLOADER_ORIGIN);
    expect(preflight.headers['access-control-allow-methods']).toContain('PATCH');
    expect(preflight.headers['access-control-allow-headers']).toContain('Tus-Resumable');
    // The host's origin is not one of tusport's: no Access-Control-Allow-Origin for it here.
    const fromHostOrigin = await raw(host.url, { method: 'POST', path: '/uploads/files', headers: { ...TUS, Origin: HOST_ORIGIN, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}` } });
    expect(fromHostOrigin.status).toBe(201);
    expect(fromHostOrigin.headers['access-control-allow-origin']).toBeUndefined();
    const fromUploader = await raw(host.url, { method: 'POST', path: '/uploads/files', headers: { ...TUS, Origin: UPLOADER_ORIGIN, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}` } });
    expect(fromUploader.headers['access-control-allow-origin']).toBe(UPLOADER_ORIGIN);
    expect(String(fromUploader.headers['access-control-expose-headers'])).toContain('Location');
    // A plain OPTIONS is tus discovery (the host's @fastify/cors would have refused it as an invalid preflight).
    const discovery = await raw(host.url, { method: 'OPTIONS', path: '/uploads/files' });
    expect(discovery.status).toBe(204);
    expect(discovery.headers['tus-version']).toBe('1.0.0');
  });

  it("keeps upload tokens sent in the query string out of the host's logs", async () => {
    const created = await raw(host.url, { method: 'POST', path: `/uploads/files?token=${TOKEN}`, headers: { ...TUS, 'Upload-Length': '1' } });
    expect(created.status).toBe(201);
    const log = host.logs.text();
    expect(log).toContain('/uploads/files?token=[redacted]');
    expect(log).not.toContain(TOKEN);
  });
});

describe('several tusports in one host', () => {
  it('serves two configs under two prefixes, each with its own store, CORS and sweep, and closes cleanly', async () => {
    const dirs = await tempDir();
    const logs = capturingLogger('info');
    const app = Fastify({ loggerInstance: logs.logger as FastifyBaseLogger });
    try {
      await app.register(tusport, { prefix: '/uploads', ...uploadsConfig(dirs.dir), server: { port: 9999, idleTimeout: 5000, trustProxy: ['127.0.0.1'] } });
      await app.register(tusport, {
        prefix: '/avatars',
        endpoints: [{ path: '/users/{username}/avatar', store: { type: 'disk', directory: path.join(dirs.dir, 'avatars', '{username}') }, maxSize: 1000 }],
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address();
      const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

      const document = Buffer.from('document bytes');
      const avatar = Buffer.from('avatar bytes');
      const first = await tusUpload(document, { endpoint: `${url}/uploads/files`, headers: { Authorization: `Bearer ${TOKEN}` } });
      const second = await tusUpload(avatar, { endpoint: `${url}/avatars/users/ada/avatar` });
      expect(first.url).toMatch(new RegExp(`^${url}/uploads/files/`));
      expect(second.url).toMatch(new RegExp(`^${url}/avatars/users/ada/avatar/`));
      expect(await readFile(path.join(dirs.dir, 'files', first.url.split('/').pop() ?? ''))).toEqual(document);
      expect(await readFile(path.join(dirs.dir, 'avatars', 'ada', second.url.split('/').pop() ?? ''))).toEqual(avatar);

      // Each keeps its own limits and CORS: the avatar endpoint's maxSize, `*` origins there.
      const tooLarge = await raw(url, { method: 'POST', path: '/avatars/users/ada/avatar', headers: { ...TUS, 'Upload-Length': '1001', Origin: HOST_ORIGIN } });
      expect([tooLarge.status, JSON.parse(tooLarge.body).code, tooLarge.headers['access-control-allow-origin']]).toEqual([413, 'TUSPORT_ERR_UPLOAD_TOO_LARGE', '*']);
      const refused = await raw(url, { method: 'POST', path: '/uploads/files', headers: { ...TUS, 'Upload-Length': '1', Origin: HOST_ORIGIN } });
      expect([refused.status, refused.headers['access-control-allow-origin']]).toEqual([401, undefined]);
      // The one decorator answers for both.
      await expect(app.tusport.checkStores()).resolves.toBeUndefined();
      await expect(app.tusport.sweep()).resolves.toEqual({ expired: 0, leftovers: 0, completed: 0, skipped: 0 });
      // Settings the host owns are reported, not silently dropped.
      const warning = logs.lines.find((line) => Array.isArray(line.ignored));
      // (trustProxy is not among them: tusport reads it for the URLs it hands out.)
      expect(warning?.ignored).toEqual(['server.port', 'server.idleTimeout']);
      expect(String(warning?.msg)).toContain('listen({ port })');
    } finally {
      await app.close();
      await dirs.remove();
    }
    expect(app.server.listening).toBe(false);
  });

  it('warns an embedding app about a store location that leaves out a URL param, as `tusport serve` does', async () => {
    const dirs = await tempDir();
    const logs = capturingLogger('info');
    const app = Fastify({ loggerInstance: logs.logger as FastifyBaseLogger });
    try {
      await app.register(tusport, {
        prefix: '/shared',
        endpoints: [
          { path: '/users/{username}/uploads', store: { type: 'disk', directory: path.join(dirs.dir, 'everyone') } },
          { path: '/teams/{team}/uploads', store: { type: 'disk', directory: path.join(dirs.dir, 'teams'), sharedAcrossParams: true } },
        ],
      });
      await app.ready();
      const warnings = logs.lines.filter((line) => Array.isArray(line.params));
      expect(warnings.map((line) => [line.endpoint, line.params])).toEqual([['/users/{username}/uploads', ['username']]]);
    } finally {
      await app.close();
      await dirs.remove();
    }
  });

  it("replaces a host's hand-written app-wide CORS headers on its routes with its own", async () => {
    const dirs = await tempDir();
    const app = Fastify();
    // Not @fastify/cors: a plain app-wide hook, which runs before tusport's on tusport's routes too.
    app.addHook('onRequest', async (_request, reply) => {
      reply.header('Access-Control-Allow-Origin', '*').header('Access-Control-Allow-Credentials', 'true');
    });
    app.get('/hello', async () => 'hello');
    try {
      await app.register(tusport, { prefix: '/uploads', ...uploadsConfig(dirs.dir), cors: { origins: [UPLOADER_ORIGIN] } });
      const refused = await app.inject({ method: 'POST', url: '/uploads/files', headers: { ...TUS, Origin: HOST_ORIGIN, 'Upload-Length': '1', Authorization: `Bearer ${TOKEN}` } });
      expect(refused.statusCode).toBe(201);
      expect(refused.headers['access-control-allow-origin']).toBeUndefined();
      expect(refused.headers['access-control-allow-credentials']).toBeUndefined();
      const hello = await app.inject({ method: 'GET', url: '/hello', headers: { Origin: HOST_ORIGIN } });
      expect(hello.headers['access-control-allow-origin']).toBe('*');
    } finally {
      await app.close();
      await dirs.remove();
    }
  });

  it('serves the demo page under the prefix, pointing at the prefixed endpoint', async () => {
    const dirs = await tempDir();
    const app = Fastify();
    try {
      await app.register(tusport, { prefix: '/uploads', demo: true, endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dirs.dir, 'files') } }] });
      // `demo: true` puts the page at `/`: here the prefix itself, whose relative URLs need the slash.
      const page = await app.inject({ method: 'GET', url: '/uploads/' });
      expect([page.statusCode, page.headers['content-type']]).toEqual([200, 'text/html; charset=utf-8']);
      const bare = await app.inject({ method: 'GET', url: '/uploads?x=1' });
      expect([bare.statusCode, bare.headers.location]).toEqual([301, '/uploads/?x=1']);
      const config = await app.inject({ method: 'GET', url: '/uploads/config.json' });
      expect(config.json()).toMatchObject({ endpoint: '/uploads/files' });
    } finally {
      await app.close();
      await dirs.remove();
    }
  });

  it("without a prefix, leaves unmatched URLs to the host's 404, whichever is registered first", async () => {
    const dirs = await tempDir();
    const app = Fastify();
    try {
      await app.register(tusport, { endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dirs.dir, 'files') } }] });
      await app.register(cors, { origin: HOST_ORIGIN });
      app.setNotFoundHandler((_request, reply) => reply.code(404).send({ host: 'not-found' }));
      const missing = await app.inject({ method: 'GET', url: '/nope' });
      expect([missing.statusCode, missing.json()]).toEqual([404, { host: 'not-found' }]);
      const tus = await app.inject({ method: 'POST', url: '/files', headers: { 'Upload-Length': '1', Origin: HOST_ORIGIN } });
      expect([tus.statusCode, tus.json().code, tus.headers['access-control-allow-origin']]).toEqual([412, 'TUSPORT_ERR_TUS_RESUMABLE', '*']);
    } finally {
      await app.close();
      await dirs.remove();
    }
  });

  it('hands out upload URLs as server.publicUrl + prefix + endpoint path', async () => {
    const dirs = await tempDir();
    const app = Fastify();
    try {
      await app.register(tusport, {
        prefix: '/uploads',
        server: { publicUrl: 'https://files.example.com/api' },
        endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dirs.dir, 'files') } }],
      });
      const created = await app.inject({ method: 'POST', url: '/uploads/files', headers: { ...TUS, 'Upload-Length': '1' } });
      expect(created.statusCode).toBe(201);
      expect(String(created.headers.location)).toMatch(/^https:\/\/files\.example\.com\/api\/uploads\/files\/[A-Za-z0-9_-]+$/);
    } finally {
      await app.close();
      await dirs.remove();
    }
  });

  it('refuses a second tusport that would drain the same outbox, and accepts it with its own', async () => {
    const dirs = await tempDir();
    const withHook = (outbox: string, prefix: string): TusportPluginOptions & { prefix: string } => ({
      prefix,
      outbox: { directory: path.join(dirs.dir, outbox) },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dirs.dir, prefix) },
          hooks: [{ type: 'function', handlers: { 'post-finish': async () => {} } }],
        },
      ],
    });
    const app = Fastify();
    try {
      await app.register(tusport, withHook('outbox', '/a'));
      await expect(app.register(tusport, withHook('outbox', '/b'))).rejects.toThrow(
        `the tusport at "/b" would share its outbox.directory ${path.join(dirs.dir, 'outbox')} with the one at "/a": give each its own outbox`,
      );
    } finally {
      await app.close();
    }
    const separate = Fastify();
    try {
      await separate.register(tusport, withHook('outbox-a', '/a'));
      await separate.register(tusport, withHook('outbox-b', '/b'));
      await separate.ready();
      expect(separate.hasRoute({ method: 'POST', url: '/b/files' })).toBe(true);
    } finally {
      await separate.close();
      await dirs.remove();
    }
  });

  it('names a shared Redis outbox by host and key prefix, never with the password in its URL', async () => {
    const dirs = await tempDir();
    const password = 'redis-secret-in-a-plugin-option-51c';
    // Nothing listens on port 9: registration refuses before any connection is tried.
    const withRedisHook = (prefix: string): TusportPluginOptions & { prefix: string } => ({
      prefix,
      outbox: { type: 'redis', url: `redis://tusport:${password}@127.0.0.1:9/0`, keyPrefix: 'shared:' },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dirs.dir, prefix) },
          hooks: [{ type: 'function', handlers: { 'post-finish': async () => {} } }],
        },
      ],
    });
    const app = Fastify({ logger: false });
    try {
      await app.register(tusport, withRedisHook('/a'));
      const refusal = await app.register(tusport, withRedisHook('/b')).then(
        () => undefined,
        (error: unknown) => error as Error,
      );
      expect(refusal?.message).toContain('would share its Redis outbox redis://127.0.0.1:9/0 (keyPrefix "shared:")');
      expect(refusal?.message).not.toContain(password);
    } finally {
      await app.close().catch(() => undefined);
      await dirs.remove();
    }
  });

  it('refuses an invalid config at registration with a ConfigError naming the key', async () => {
    const app = Fastify();
    try {
      await expect(app.register(tusport, { prefix: '/uploads', endpoints: [{ path: '/files', store: { type: 'disk', directory: '' } }] })).rejects.toThrow(
        /tusport plugin options[\s\S]*endpoints\[0\]\.store\.directory/,
      );
    } finally {
      await app.close();
    }
  });
});
