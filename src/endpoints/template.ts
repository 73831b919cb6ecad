import path from 'node:path';
import { INVISIBLE_CHARACTER } from '../policy/filename.js';

/**
 * URL templates (`/users/{username}/uploads`) and the store-location templates that use their
 * params (`./data/{username}`). A template value is untrusted input that ends up in file paths
 * and object keys, so it is validated once here, and paths rendered from it are checked to stay
 * inside the template's fixed root.
 */

const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const PLACEHOLDER = /\{([^{}]*)\}/g;
const STATIC_SEGMENT = /^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/;
export const MAX_PARAM_BYTES = 128;

export type TemplateParams = Record<string, string>;

export interface UrlTemplate {
  /** The template as configured, e.g. `/users/{username}/uploads`. */
  source: string;
  /** The same path in Fastify's route syntax: `/users/:username/uploads`. */
  routePath: string;
  /** Param names in order of appearance. */
  params: string[];
  /** The template with params replaced by `*`, for collision checks. */
  shape: string;
}

export class TemplateError extends Error {}

/** Parse and check a URL template. Params must be whole path segments. */
export function parseUrlTemplate(source: string): UrlTemplate {
  if (!source.startsWith('/')) throw new TemplateError('must start with "/"');
  const trimmed = source.length > 1 && source.endsWith('/') ? source.slice(0, -1) : source;
  if (trimmed === '/') throw new TemplateError('must not be "/": uploads need a path of their own');
  const params: string[] = [];
  const routeSegments: string[] = [];
  const shapeSegments: string[] = [];
  for (const segment of trimmed.slice(1).split('/')) {
    if (segment === '') throw new TemplateError('must not contain empty segments ("//")');
    const param = /^\{(.*)\}$/.exec(segment);
    if (param) {
      const name = param[1] ?? '';
      if (!PARAM_NAME.test(name)) {
        throw new TemplateError(`param "{${name}}" must be a name of letters, digits and "_" (not starting with a digit)`);
      }
      if (params.includes(name)) throw new TemplateError(`param "{${name}}" appears twice`);
      params.push(name);
      routeSegments.push(`:${name}`);
      shapeSegments.push('*');
      continue;
    }
    if (segment.includes('{') || segment.includes('}')) {
      throw new TemplateError(`segment "${segment}": a {param} must be a whole path segment`);
    }
    if (!STATIC_SEGMENT.test(segment) || segment === '.' || segment === '..') {
      throw new TemplateError(`segment "${segment}" has characters that are not allowed in a URL path`);
    }
    routeSegments.push(segment);
    shapeSegments.push(segment);
  }
  return {
    source: trimmed,
    routePath: `/${routeSegments.join('/')}`,
    params,
    shape: `/${shapeSegments.join('/')}`,
  };
}

/** Two path shapes (segments, `*` for a param) overlap when some URL matches both. */
export function shapesOverlap(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((segment, i) => segment === b[i] || segment === '*' || b[i] === '*');
}

/** The `{names}` a location template (store directory, S3 prefix) refers to. */
export function placeholdersOf(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '');
}

/**
 * Why a template value is unsafe, or undefined when it is fine. Values become a single path
 * segment or key component, so anything that could change the path's shape is refused.
 */
export function checkParamValue(value: string): string | undefined {
  if (value.length === 0) return 'must not be empty';
  if (Buffer.byteLength(value, 'utf8') > MAX_PARAM_BYTES) return `must be at most ${MAX_PARAM_BYTES} bytes`;
  if (value === '.' || value === '..') return 'must not be "." or ".."';
  if (/[/\\]/.test(value)) return 'must not contain "/" or "\\"';
  // biome-ignore lint: control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'must not contain control characters';
  if (value.isWellFormed && !value.isWellFormed()) return 'must be valid Unicode';
  // Two names that look the same must not be two directories (nor one that shows as another).
  if (INVISIBLE_CHARACTER.test(value)) return 'must not contain invisible or bidirectional formatting characters (such as U+200B or U+202E)';
  return undefined;
}

/**
 * A template value as tusport uses it: NFC, so that `e\u0301` (as macOS spells it) and `é` are one
 * user and one directory. Check it with `checkParamValue` after.
 */
export function normalizeParamValue(value: string): string {
  return value.normalize('NFC');
}

/** Replace `{name}` placeholders with values; `encode` adapts each value to its destination. */
export function renderTemplate(template: string, values: TemplateParams, encode: (v: string) => string = (v) => v): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new TemplateError(`no value for {${name}}`);
    return encode(value);
  });
}

/** The fixed part of a directory template: everything before the segment holding the first `{`. */
export function directoryRoot(template: string): string {
  const brace = template.indexOf('{');
  if (brace === -1) return path.resolve(template);
  const cut = template.lastIndexOf('/', brace);
  return path.resolve(cut <= 0 ? (cut === 0 ? '/' : '.') : template.slice(0, cut));
}

/** Render a directory template and prove the result stays inside its root. */
export function resolveDirectory(template: string, values: TemplateParams): string {
  const root = directoryRoot(template);
  const resolved = path.resolve(renderTemplate(template, values));
  const relative = path.relative(root, resolved);
  // With params, the result must be strictly below the root: a value may pick a subdirectory,
  // never the shared root itself (nor anything above it).
  const hasParams = template.includes('{');
  if (relative.startsWith('..') || path.isAbsolute(relative) || (hasParams && relative === '')) {
    throw new TemplateError(`resolved directory ${resolved} is outside ${root}`);
  }
  return resolved;
}

/** Render the public URL path of an endpoint for given param values. */
export function renderUrlPath(template: UrlTemplate, values: TemplateParams): string {
  return renderTemplate(template.source, values, encodeURIComponent);
}
