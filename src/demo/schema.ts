import { z } from 'zod';
import { parseUrlTemplate, shapesOverlap, TemplateError } from '../endpoints/template.js';
import { HEALTH_PATH } from '../observability/health.js';
import { READY_PATH } from '../observability/readiness.js';

/**
 * The `demo` key: an Uppy page served by tusport itself, for trying an endpoint from a browser.
 * `true`/`false` or a section; resolved to `{ enabled, path, endpoint? }`.
 */

const DemoSectionSchema = z.strictObject({
  enabled: z.boolean().default(true).meta({ description: 'Serve the demo page (`tusport serve --demo` / `--no-demo`).' }),
  path: z
    .string({ error: 'expected a URL path such as "/" or "/demo"' })
    .default('/')
    .meta({ description: 'Where the page is served; its script, config and the Uppy bundle are served beside it. Must not overlap an endpoint.' }),
  endpoint: z.string().optional().meta({ description: 'The `endpoints[].path` the page uploads to. Default: the first endpoint.' }),
});

export const DemoSchema = z
  .union([z.boolean(), DemoSectionSchema], { error: 'expected true, false or { enabled, path, endpoint }' })
  .default(false)
  .transform((demo) => (typeof demo === 'boolean' ? { enabled: demo, path: '/' } : demo))
  .meta({
    description:
      'A browser upload page (Uppy) for one endpoint: `true` or a section. Off by default; on when `tusport serve` runs without a config file (`npm start`).',
  });

export type DemoConfig = z.output<typeof DemoSchema>;

/** The files the page loads, relative to it (index.html refers to them as `./<name>`). */
export const DEMO_ASSETS = ['app.js', 'config.json', 'uppy.min.mjs', 'uppy.min.css'] as const;
export type DemoAsset = (typeof DEMO_ASSETS)[number];

/** The page's URL, always ending in `/` so the relative asset URLs resolve beside it. */
export function demoPagePath(path: string): string {
  return path.endsWith('/') ? path : `${path}/`;
}

/** Every URL the demo answers (the page without and with its trailing slash are one route). */
export function demoRoutes(path: string): string[] {
  const page = demoPagePath(path);
  return [page, ...DEMO_ASSETS.map((asset) => `${page}${asset}`)];
}

interface EndpointPaths {
  path: string;
}

/**
 * Check `demo` against the endpoints: a valid path whose routes match no endpoint URL, and an
 * `endpoint` that names one of them.
 */
export function checkDemo(demo: DemoConfig, endpoints: EndpointPaths[], ctx: z.RefinementCtx): void {
  if (!demo.enabled) return;
  if (demo.path !== '/') {
    let problem: string | undefined;
    try {
      if (parseUrlTemplate(demo.path).params.length > 0) problem = 'must be a fixed path: no {params}';
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      problem = error.message;
    }
    if (problem) {
      ctx.addIssue({ code: 'custom', path: ['demo', 'path'], message: `${JSON.stringify(demo.path)} ${problem}` });
      return;
    }
  }
  const templates = endpoints.flatMap((endpoint, index) => {
    try {
      return [{ index, path: endpoint.path, template: parseUrlTemplate(endpoint.path) }];
    } catch {
      return []; // reported by the endpoint checks
    }
  });
  for (const route of demoRoutes(demo.path)) {
    if (normalise(route) === HEALTH_PATH || normalise(route) === READY_PATH) {
      ctx.addIssue({ code: 'custom', path: ['demo', 'path'], message: `${JSON.stringify(demo.path)} is taken by the health checks (${HEALTH_PATH}, ${READY_PATH})` });
      return;
    }
    const segments = normalise(route).split('/').slice(1);
    const hit = templates.find(({ template }) => {
      const shape = template.shape.split('/').slice(1);
      return shapesOverlap(segments, shape) || shapesOverlap(segments, [...shape, '*']);
    });
    if (hit) {
      ctx.addIssue({
        code: 'custom',
        path: ['demo', 'path'],
        message: `${JSON.stringify(demo.path)} collides with endpoints[${hit.index}].path ${JSON.stringify(hit.path)}: the demo's ${route} is one of its URLs (pick another demo.path, e.g. "/demo")`,
      });
      return;
    }
  }
  if (demo.endpoint !== undefined) {
    const wanted = normalise(demo.endpoint);
    if (!templates.some(({ template }) => template.source === wanted)) {
      ctx.addIssue({
        code: 'custom',
        path: ['demo', 'endpoint'],
        message: `${JSON.stringify(demo.endpoint)} is not an endpoint path here (configured: ${endpoints.map((e) => JSON.stringify(e.path)).join(', ')})`,
      });
    }
  }
}

function normalise(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
