import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/**
 * The config reference (docs/configuration.md), generated from the schema so the two cannot
 * disagree (`npm run docs:config` rewrites it; a test fails when it is stale).
 */

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  format?: string;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  required?: string[];
}

export const REFERENCE_FILE = 'docs/configuration.md';

/**
 * Defaults zod applies while parsing (a duration or size given with units has its default after
 * the transform, so the JSON schema does not carry it) are read from parsed sample configs: one
 * that reaches every kind of section. A key's default is its parsed value where the sample did not
 * set it. Keys are flattened the way the table names them (`endpoints[].store.partSize`).
 */
const SECRET = 'x'.repeat(32);
const SAMPLES: unknown[] = [
  {},
  { endpoints: [{ path: '/x', store: { type: 'disk', directory: '.' }, form: true, hooks: [{ type: 'command', command: ['x'] }] }] },
  { endpoints: [{ path: '/x', store: { type: 's3', bucket: 'b' }, auth: { type: 'jwt', secret: SECRET }, direct: true, claim: { ttl: '1h' } }] },
  { locker: { type: 'redis', url: 'redis://127.0.0.1:6379' }, outbox: { type: 'redis', url: 'redis://127.0.0.1:6379' } },
];

const RESOLVED_DEFAULTS: Record<string, unknown> = (() => {
  const defaults: Record<string, unknown> = {};
  for (const sample of SAMPLES) {
    const given = flatten('', sample);
    for (const [key, value] of Object.entries(flatten('', ConfigSchema.parse(sample)))) {
      // A list entry the sample did not write (the default `/files` endpoint) is an example, not defaults.
      const list = key.lastIndexOf('[]');
      if (list >= 0 && !(key.slice(0, list + 2) in given)) continue;
      if (!(key in given) && !(key in defaults)) defaults[key] = value;
    }
  }
  return defaults;
})();

/**
 * Every leaf of `value` by its reference key, a list by its first entry (`a[].b`); a list entry
 * itself is there too (`a[]`: true), so that what a sample wrote can be told apart.
 */
function flatten(prefix: string, value: unknown): Record<string, unknown> {
  if (Array.isArray(value)) return value.length > 0 ? { [`${prefix}[]`]: true, ...flatten(`${prefix}[]`, value[0]) } : { [prefix]: value };
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) Object.assign(out, flatten(join(prefix, key), child));
    return out;
  }
  return value === undefined ? {} : { [prefix]: value };
}

function typeOf(schema: JsonSchema): string {
  if (schema.format) return schema.format;
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  const options = schema.anyOf ?? schema.oneOf;
  if (options) return options.map(typeOf).join(' \\| ');
  if (schema.type === 'array') return `list of ${schema.items ? typeOf(schema.items) : 'values'}`;
  if (Array.isArray(schema.type)) return schema.type.join(' \\| ');
  return schema.type ?? 'function';
}

/** What the default column says when a key has no default: `*required*`, or which variants need it. */
type Requirement = string | undefined;

function formatDefault(key: string, schema: JsonSchema, requirement: Requirement): string {
  const value = schema.default !== undefined ? schema.default : RESOLVED_DEFAULTS[key];
  if (value === undefined) return requirement ?? '';
  if (schema.format === 'duration' && typeof value === 'number') return `\`${value}\` ms`;
  if (typeof value === 'object' && Object.keys(value as object).length === 0) return '';
  return `\`${JSON.stringify(value)}\``;
}

const REQUIRED = '*required*';

interface Row {
  type: string;
  default: string;
  description: string;
}

/**
 * Rows by key. A union of sections is documented per variant (see `unionRows`); everything else
 * is one row per key, a section's keys after it.
 */
function rows(schema: JsonSchema, prefix: string, out: Map<string, Row>, requirement: Requirement, note = ''): void {
  const options = schema.oneOf ?? schema.anyOf;
  const variants = options?.filter((s) => s.properties) ?? [];
  const objects = schema.properties ? [schema] : variants;
  // A list of objects (or of a union of objects, like hooks) gets rows for the objects' keys.
  const items = schema.type === 'array' ? schema.items : undefined;
  const listOfObjects = items !== undefined && (items.properties !== undefined || (items.oneOf ?? items.anyOf)?.some((s) => s.properties) === true);
  if (prefix) {
    const isContainer = objects.length > 0 || listOfObjects;
    // A key that is a section or a scalar (`demo: true`) lists both.
    const scalars = options?.filter((s) => !s.properties).map(typeOf) ?? [];
    const type = isContainer ? (schema.type === 'array' ? 'list' : [...scalars, 'section'].join(' \\| ')) : typeOf(schema);
    if (!isContainer || schema.description || note) {
      out.set(prefix, { type, default: formatDefault(prefix, schema, requirement), description: note + (schema.description ?? '') });
    }
    if (!isContainer) return;
  }
  if (items && listOfObjects) {
    rows(items, `${prefix}[]`, out, undefined);
    return;
  }
  if (objects.length > 1) {
    unionRows(objects, prefix, schema.default, out);
    return;
  }
  for (const object of objects) {
    for (const [key, child] of Object.entries(object.properties ?? {})) {
      rows(child, join(prefix, key), out, object.required?.includes(key) ? REQUIRED : undefined);
    }
  }
}

function join(prefix: string, key: string): string {
  return prefix ? `${prefix}.${key}` : key;
}

/** The key whose constant value tells the variants apart (`type`), if there is one. */
function discriminatorOf(variants: JsonSchema[]): string | undefined {
  const first = variants[0]?.properties ?? {};
  return Object.keys(first).find((key) => variants.every((v) => v.properties?.[key]?.const !== undefined));
}

/**
 * A union of sections (`store`, `auth`, `hooks[]`, `outbox`, a token entry): the discriminator
 * (`type`) gets one row listing every variant with its description; each other key gets one row
 * that says which variants have it and in which of them it is required. A key several variants
 * share (`auth.secret` for `jwt` and `signed`) is one row.
 */
function unionRows(variants: JsonSchema[], prefix: string, unionDefault: unknown, out: Map<string, Row>): void {
  const discriminator = discriminatorOf(variants);
  const valueOf = (variant: JsonSchema) => (discriminator ? variant.properties?.[discriminator]?.const : undefined);
  if (discriminator) {
    const defaultValue =
      (unionDefault as Record<string, unknown> | undefined)?.[discriminator] ?? variants.map((v) => v.properties?.[discriminator]?.default).find((d) => d !== undefined);
    const description = variants
      .map((variant) => {
        const text = variant.properties?.[discriminator]?.description ?? '';
        const label = `\`${String(valueOf(variant))}\``;
        return text.startsWith(label) ? text : `${label}${text ? `: ${text}` : '.'}`;
      })
      .join(' ');
    out.set(join(prefix, discriminator), {
      type: variants.map((v) => JSON.stringify(valueOf(v))).join(' \\| '),
      default: defaultValue !== undefined ? `\`${JSON.stringify(defaultValue)}\`` : variants.every((v) => v.required?.includes(discriminator)) ? REQUIRED : '',
      description: `Which kind: ${description}`,
    });
  }
  const keys = [...new Set(variants.flatMap((v) => Object.keys(v.properties ?? {})))].filter((key) => key !== discriminator);
  for (const key of keys) {
    const holders = variants.filter((v) => v.properties?.[key] !== undefined);
    const requiredIn = holders.filter((v) => v.required?.includes(key));
    const child = holders[0]?.properties?.[key];
    if (!child) continue;
    const everywhere = holders.length === variants.length;
    if (discriminator) {
      const names = (list: JsonSchema[]) => list.map((v) => `\`${String(valueOf(v))}\``).join(', ');
      const missing = variants.filter((v) => !holders.includes(v));
      const note = everywhere ? '' : missing.length < holders.length && missing.length === 1 ? `(\`${discriminator}\` other than ${names(missing)}) ` : `(\`${discriminator}\`: ${names(holders)}) `;
      const requirement = requiredIn.length === 0 ? undefined : requiredIn.length === holders.length ? REQUIRED : `${REQUIRED} with ${names(requiredIn)}`;
      rows(child, join(prefix, key), out, requirement, note);
    } else {
      // No discriminator (a token entry is `{ id, token }` or `{ id, sha256 }`): the keys only some
      // variants have are alternatives.
      const alternatives = keys.filter((k) => !variants.every((v) => v.properties?.[k] !== undefined));
      const requirement =
        requiredIn.length === 0 ? undefined : everywhere && requiredIn.length === holders.length ? REQUIRED : `*one of* ${alternatives.map((k) => `\`${k}\``).join(', ')}`;
      rows(child, join(prefix, key), out, requirement);
    }
  }
}

/** The table: one row per key. */
export function configReference(): string {
  const json = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const table = new Map<string, Row>();
  rows(json, '', table, undefined);
  const lines = ['| key | type | default | what it does |', '| --- | --- | --- | --- |'];
  for (const [key, row] of table) {
    lines.push(`| \`${key}\` | ${row.type} | ${row.default} | ${row.description.replace(/\|/g, '\\|')} |`);
  }
  return lines.join('\n');
}

/** The whole of docs/configuration.md. */
export function configReferenceDocument(): string {
  return `# Configuration reference

<!-- Generated from the config schema (src/config/schema.ts and the schemas it includes) by \`npm run docs:config\`. Do not edit by hand: a test fails when this file and the schema disagree. -->

Every key of a tusport config file (YAML or JSON, \`tusport serve --config FILE\`); the
[README](../README.md#configuration) shows whole configs, environment overrides and precedence.

- \`a.b\` is key \`b\` inside section \`a\`; \`endpoints[].path\` is \`path\` in each entry of the list \`endpoints\`.
- A section that comes in several kinds (\`store\`, \`auth\`, \`hooks[]\`, \`outbox\`) has a \`type\` row listing the
  kinds; a key only some kinds have says which, e.g. "(\`type\`: \`s3\`)".
- *required*: the key must be set whenever its section (of that kind) is there. *one of* \`a\`, \`b\`: exactly one of
  them.
- Sizes are bytes or strings with units (\`100MB\` = 10^8 bytes, \`100MiB\` = 100·2^20); durations are
  milliseconds or strings such as \`30s\`, \`10m\`, \`24h\` (defaults are shown in milliseconds).

${configReference()}
`;
}
