import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, DEFAULT_ENDPOINTS, DEFAULT_WITHOUT_FILE, type ResolvedConfig, type TusportConfig } from './schema.js';
import { childSchema, objectKeys, schemaAt } from './schema-walk.js';

/** A configuration the user has to fix. The CLI prints `message` and exits 2, without a stack. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

/** Validate a config object (from a file, or from a library user) and fill in defaults. */
export function resolveConfig(input: unknown, source = 'config'): ResolvedConfig {
  const result = ConfigSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map(describeIssue);
  throw new ConfigError(`Invalid ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`, problems);
}

function keyPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    out += typeof segment === 'number' ? `[${segment}]` : out ? `.${String(segment)}` : String(segment);
  }
  return out || '(top level)';
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const where = keyPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const node = schemaAt(ConfigSchema, issue.path);
    const allowed = node ? objectKeys(node) : [];
    const keys = issue.keys.map((k) => JSON.stringify(k)).join(', ');
    return `${where}: unknown key${issue.keys.length > 1 ? 's' : ''} ${keys}${allowed.length ? ` (allowed: ${allowed.join(', ')})` : ''}`;
  }
  return `${where}: ${issue.message}`;
}

/** Read a YAML or JSON config file (YAML is a superset of JSON, so one parser reads both). */
export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`Cannot read config file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return YAML.parse(text, { prettyErrors: true, uniqueKeys: true }) ?? {};
  } catch (error) {
    throw new ConfigError(`Config file ${file} is not valid YAML/JSON: ${(error as Error).message}`);
  }
}

export const ENV_PREFIX = 'TUSPORT__';

/**
 * Apply environment overrides onto a raw config object (before validation, so values get the
 * same checks and messages as the file). Two forms:
 * - `TUSPORT_HOST`, `TUSPORT_PORT`: shortcuts for `server.host` / `server.port`;
 * - `TUSPORT__<key>__<key>...`: any key, `__` between levels, keys case-insensitive, array
 *   indexes as numbers: `TUSPORT__SERVER__LOGLEVEL=debug`, `TUSPORT__ENDPOINTS__0__MAXSIZE=1GB`.
 *   Values are parsed as JSON when they are valid JSON (`["a","b"]`, `true`, `5`), else taken as
 *   strings.
 */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): TusportConfig {
  const config = (isPlainObject(raw) ? structuredClone(raw) : {}) as Record<string, unknown>;
  const overrides: [string[], string, string][] = [];
  if (env.TUSPORT_HOST !== undefined) overrides.push([['server', 'host'], env.TUSPORT_HOST, 'TUSPORT_HOST']);
  if (env.TUSPORT_PORT !== undefined) overrides.push([['server', 'port'], env.TUSPORT_PORT, 'TUSPORT_PORT']);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    overrides.push([name.slice(ENV_PREFIX.length).split('__'), value, name]);
  }
  for (const [segments, value, name] of overrides) setByPath(config, segments, parseEnvValue(value), name);
  return config as TusportConfig;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function setByPath(config: Record<string, unknown>, segments: string[], value: unknown, envName: string): void {
  let schema: z.ZodType = ConfigSchema;
  let node: Record<string | number, unknown> = config;
  segments.forEach((segment, i) => {
    const child = childSchema(schema, segment);
    if (!child) {
      throw new ConfigError(`Environment variable ${envName}: "${segment}" is not a config key here (allowed: ${objectKeys(schema).join(', ') || 'none'})`);
    }
    if (i === segments.length - 1) {
      node[child.key] = value;
      return;
    }
    const next = node[child.key];
    if (typeof next !== 'object' || next === null) {
      // Without a config file, `TUSPORT__ENDPOINTS__0__MAXSIZE=1GB` (the example in --help) must
      // change the default /files endpoint, not create an endpoint with no path and no store.
      node[child.key] =
        i === 0 && child.key === 'endpoints' && next === undefined
          ? structuredClone(DEFAULT_ENDPOINTS)
          : typeof childSchema(child.schema, '0')?.key === 'number'
            ? []
            : {};
    }
    node = node[child.key] as Record<string | number, unknown>;
    schema = child.schema;
  });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Everything `tusport serve` does to get a config: file (optional), env, CLI flags, validation. */
export function loadConfig(options: {
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  flags?: { host?: string; port?: string | number; demo?: boolean; logFormat?: string };
}): ResolvedConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.TUSPORT_CONFIG;
  // Without a config file (`npm start`), the demo page is on: the quickest way to try an upload.
  const raw = file ? readConfigFile(file) : { ...DEFAULT_WITHOUT_FILE };
  if (!isPlainObject(raw)) throw new ConfigError(`Config file ${file}: expected a mapping of keys at the top level`);
  const withEnv = applyEnvOverrides(raw, env) as Record<string, unknown>;
  if (options.flags?.host !== undefined || options.flags?.port !== undefined || options.flags?.logFormat !== undefined) {
    const server = (isPlainObject(withEnv.server) ? withEnv.server : {}) as Record<string, unknown>;
    if (options.flags.host !== undefined) server.host = options.flags.host;
    if (options.flags.port !== undefined) server.port = options.flags.port;
    if (options.flags.logFormat !== undefined) server.logFormat = options.flags.logFormat;
    withEnv.server = server;
  }
  const demo = options.flags?.demo;
  if (demo !== undefined) withEnv.demo = isPlainObject(withEnv.demo) ? { ...withEnv.demo, enabled: demo } : demo;
  return resolveConfig(withEnv, file ? `config (${file})` : 'config');
}
