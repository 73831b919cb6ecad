import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { ConfigSchema, DEFAULT_ENDPOINTS, DEFAULT_WITHOUT_FILE, type ResolvedConfig, type TusportConfig } from './schema.js';
import { ConfigOrigins } from './origins.js';
import { childSchema, objectKeys, schemaAt } from './schema-walk.js';

// Kept in a module of their own so the CLI can name them without loading the schemas.
import { ConfigError, ENV_PREFIX } from './errors.js';
export { ConfigError, ENV_PREFIX };

/**
 * Validate a config object (from a file, or from a library user) and fill in defaults. With
 * `originOf`, each problem also says where its value came from (`tusport serve` passes the
 * flags/environment/file/defaults it merged).
 */
export function resolveConfig(input: unknown, source = 'config', originOf?: (path: readonly PropertyKey[]) => string): ResolvedConfig {
  const result = ConfigSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const problem = describeIssue(issue);
    if (!originOf) return problem;
    const path = issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined ? [...issue.path, issue.keys[0]] : issue.path;
    return `${problem} (from ${originOf(path)})`;
  });
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


/**
 * Apply environment overrides onto a raw config object (before validation, so values get the
 * same checks and messages as the file). Two forms:
 * - `TUSPORT_HOST`, `TUSPORT_PORT`: shortcuts for `server.host` / `server.port`;
 * - `TUSPORT__<key>__<key>...`: any key, `__` between levels, keys case-insensitive, array
 *   indexes as numbers: `TUSPORT__SERVER__LOGLEVEL=debug`, `TUSPORT__ENDPOINTS__0__MAXSIZE=1GB`.
 *   Values are parsed as JSON when they are valid JSON (`["a","b"]`, `true`, `5`), else taken as
 *   strings.
 */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv, origins?: ConfigOrigins): TusportConfig {
  const config = (isPlainObject(raw) ? structuredClone(raw) : {}) as Record<string, unknown>;
  const overrides: [string[], string, string][] = [];
  if (env.TUSPORT_HOST !== undefined) overrides.push([['server', 'host'], env.TUSPORT_HOST, 'TUSPORT_HOST']);
  if (env.TUSPORT_PORT !== undefined) overrides.push([['server', 'port'], env.TUSPORT_PORT, 'TUSPORT_PORT']);
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || value === undefined) continue;
    overrides.push([name.slice(ENV_PREFIX.length).split('__'), value, name]);
  }
  for (const [segments, value, name] of overrides) {
    const { path, created } = setByPath(config, segments, parseEnvValue(value), name);
    origins?.record(path, `environment variable ${name}`);
    // A section or list entry this variable brought into being is its doing too (a key missing
    // from `endpoints[1]`, which only TUSPORT__ENDPOINTS__1__PATH created).
    if (created) origins?.recordIfAbsent(created, `environment variable ${name}`);
  }
  return config as TusportConfig;
}

function parseEnvValue(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

/**
 * Set the value; return the key path it went to (keys spelled as the schema spells them) and the
 * first parent it had to create, if any.
 */
function setByPath(config: Record<string, unknown>, segments: string[], value: unknown, envName: string): { path: (string | number)[]; created?: (string | number)[] } {
  let schema: z.ZodType = ConfigSchema;
  let node: Record<string | number, unknown> = config;
  const path: (string | number)[] = [];
  let created: (string | number)[] | undefined;
  segments.forEach((segment, i) => {
    const child = childSchema(schema, segment);
    if (!child) {
      throw new ConfigError(`Environment variable ${envName}: "${segment}" is not a config key here (allowed: ${objectKeys(schema).join(', ') || 'none'})`);
    }
    path.push(child.key);
    if (i === segments.length - 1) {
      node[child.key] = value;
      return;
    }
    const next = node[child.key];
    if (typeof next !== 'object' || next === null) {
      // Without a config file, `TUSPORT__ENDPOINTS__0__MAXSIZE=1GB` (the example in --help) must
      // change the default /files endpoint, not create an endpoint with no path and no store.
      const fromDefaults = i === 0 && child.key === 'endpoints' && next === undefined;
      node[child.key] = fromDefaults ? structuredClone(DEFAULT_ENDPOINTS) : typeof childSchema(child.schema, '0')?.key === 'number' ? [] : {};
      if (!fromDefaults) created ??= [...path];
    }
    node = node[child.key] as Record<string | number, unknown>;
    schema = child.schema;
  });
  return created ? { path, created } : { path };
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
  const origins = new ConfigOrigins(file ? { path: file, raw } : undefined);
  const withEnv = applyEnvOverrides(raw, env, origins) as Record<string, unknown>;
  if (options.flags?.host !== undefined || options.flags?.port !== undefined || options.flags?.logFormat !== undefined) {
    const server = (isPlainObject(withEnv.server) ? withEnv.server : {}) as Record<string, unknown>;
    if (options.flags.host !== undefined) {
      server.host = options.flags.host;
      origins.record(['server', 'host'], 'command-line flag --host');
    }
    if (options.flags.port !== undefined) {
      server.port = options.flags.port;
      origins.record(['server', 'port'], 'command-line flag --port');
    }
    if (options.flags.logFormat !== undefined) {
      server.logFormat = options.flags.logFormat;
      origins.record(['server', 'logFormat'], 'command-line flag --log-format');
    }
    withEnv.server = server;
  }
  const demo = options.flags?.demo;
  if (demo !== undefined) withEnv.demo = isPlainObject(withEnv.demo) ? { ...withEnv.demo, enabled: demo } : demo;
  return resolveConfig(withEnv, 'config', (path) => origins.originOf(path));
}
