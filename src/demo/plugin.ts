import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ResolvedConfig } from '../config/schema.js';
import { parseUrlTemplate } from '../endpoints/template.js';
import { type DemoAsset, demoPagePath } from './schema.js';

/**
 * The Uppy demo page (`demo` in the config): `examples/uppy/index.html` and `app.js` (one copy,
 * also the example users read), the Uppy bundle from the installed `uppy` package (no CDN, works
 * offline), and `config.json`, which tells the page which endpoint to use and what it accepts.
 * Everything is read once at startup and answered from memory with an ETag.
 */

/** What the page learns about its endpoint (`config.json`). */
export interface DemoPageConfig {
  /** The endpoint's URL template, e.g. `/files` or `/users/{username}/uploads`. */
  endpoint: string;
  /** Template params the page asks the user for. */
  params: string[];
  /** The endpoint's auth type; anything but `none` makes the page ask for a bearer token. */
  auth: string;
  accept: string[] | null;
  maxSize: number | null;
  /** The endpoint's `maxChunkSize`: Uppy must not send larger PATCHes. */
  chunkSize: number | null;
  /** The endpoint takes multipart forms too: the page offers XHRUpload (`?mode=form`). */
  form: boolean;
}

interface Asset {
  body: Buffer;
  type: string;
  cacheControl: string;
  etag: string;
}

const EXAMPLE_DIR = new URL('../../examples/uppy/', import.meta.url);
// The page and its config change with tusport and its config: revalidate every time (cheap: 304).
const REVALIDATE = 'no-cache';
// The Uppy bundle only changes when the `uppy` package is upgraded.
const VENDOR = 'public, max-age=3600';

function asset(body: Buffer | string, type: string, cacheControl: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return { body: bytes, type, cacheControl, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"` };
}

function read(file: string | URL, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new Error(`The demo page needs ${what} (${file instanceof URL ? fileURLToPath(file) : file}): ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
}

/** The endpoint the page uploads to: `demo.endpoint`, or the first one (`prefix`: where tusport is mounted). */
export function demoPageConfig(config: ResolvedConfig, prefix = ''): DemoPageConfig {
  const wanted = config.demo.endpoint === undefined ? undefined : parseUrlTemplate(config.demo.endpoint).source;
  const endpoint = config.endpoints.find((e) => wanted === undefined || parseUrlTemplate(e.path).source === wanted) ?? config.endpoints[0];
  if (!endpoint) throw new Error('the demo page needs an endpoint');
  const template = parseUrlTemplate(endpoint.path);
  return {
    endpoint: `${prefix}${template.source}`,
    params: template.params,
    auth: endpoint.auth.type,
    accept: endpoint.policy.accept ?? null,
    maxSize: endpoint.maxSize ?? null,
    chunkSize: endpoint.maxChunkSize ?? null,
    form: endpoint.form !== undefined,
  };
}

/** The page (`''`) and each of `DEMO_ASSETS` (the type keeps the two lists in step). */
function loadAssets(config: ResolvedConfig, prefix: string): Record<'' | DemoAsset, Asset> {
  const uppy = createRequire(import.meta.url);
  const vendor = (name: string) => read(uppy.resolve(`uppy/dist/${name}`), `the uppy package's dist/${name}`);
  return {
    '': asset(read(new URL('index.html', EXAMPLE_DIR), 'examples/uppy/index.html'), 'text/html; charset=utf-8', REVALIDATE),
    'app.js': asset(read(new URL('app.js', EXAMPLE_DIR), 'examples/uppy/app.js'), 'text/javascript; charset=utf-8', REVALIDATE),
    'config.json': asset(JSON.stringify(demoPageConfig(config, prefix)), 'application/json; charset=utf-8', REVALIDATE),
    'uppy.min.mjs': asset(vendor('uppy.min.mjs'), 'text/javascript; charset=utf-8', VENDOR),
    'uppy.min.css': asset(vendor('uppy.min.css'), 'text/css; charset=utf-8', VENDOR),
  };
}

function fresh(request: FastifyRequest, etag: string): boolean {
  const given = request.headers['if-none-match'];
  return given !== undefined && given.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag || tag.trim() === '*');
}

/** Fastify plugin: serves the demo when `config.demo.enabled`, nothing otherwise. */
export async function demoPage(app: FastifyInstance, options: { config: ResolvedConfig }): Promise<void> {
  const { config } = options;
  if (!config.demo.enabled) return;
  const page = demoPagePath(config.demo.path);
  // Registered under a prefix (`register(tusport, { prefix })`), the page's URLs carry it.
  const prefix = app.prefix.replace(/\/+$/, '');
  const assets = loadAssets(config, prefix);
  const send = (item: Asset, request: FastifyRequest, reply: FastifyReply) => {
    reply.header('Cache-Control', item.cacheControl).header('ETag', item.etag).header('X-Content-Type-Options', 'nosniff');
    if (fresh(request, item.etag)) return reply.code(304).send();
    return reply.type(item.type).send(item.body);
  };
  for (const [name, item] of Object.entries(assets)) {
    app.get(`${page}${name}`, { logLevel: 'warn' }, async (request, reply) => {
      // `/demo` and `/demo/` are one route (ignoreTrailingSlash); the page's relative URLs need the slash.
      const [pathname, query] = request.url.split('?', 2);
      if (name === '' && !pathname?.endsWith('/')) return reply.redirect(`${prefix}${page}${query === undefined ? '' : `?${query}`}`, 301);
      return send(item, request, reply);
    });
  }
}
