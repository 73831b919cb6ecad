import type { FastifyBaseLogger, LogLevel } from 'fastify';
import { resolveConfig } from '../config/load.js';
import type { ResolvedConfig, TusportConfig } from '../config/schema.js';

/**
 * What `app.register(tusport, options)` takes: a tusport config (what `tusport serve` reads from
 * its file, or the result of `loadConfig`/`resolveConfig`), plus Fastify's own register options
 * (`prefix`, `logLevel`, `logSerializers`), which Fastify types and hands over alongside.
 */
export type TusportPluginOptions = TusportConfig | ResolvedConfig;

/** `server.*` keys a host's Fastify owns: its `Fastify({...})` options and its `listen()`. */
const HOST_OWNED = {
  host: 'listen({ host })',
  port: 'listen({ port })',
  idleTimeout: 'Fastify({ connectionTimeout })',
  shutdownTimeout: 'your own shutdown',
  logLevel: 'your logger, or register(tusport, { logLevel })',
  logFormat: 'your logger',
  headersTimeout: 'your server\'s headersTimeout',
  maxConnections: 'your server or proxy',
  maxConnectionsPerClient: 'your proxy (nginx limit_conn)',
} as const satisfies Partial<Record<keyof ResolvedConfig['server'], string>>;

/** Fastify's register options travel in the same object as the config. */
const REGISTER_KEYS = ['prefix', 'logLevel', 'logSerializers'] as const;

/** Split what Fastify hands the plugin into Fastify's register options and tusport's config. */
export function splitRegisterOptions(options: Record<string, unknown>): { config: ResolvedConfig; prefix: string; logLevel: LogLevel | undefined } {
  const input: Record<string, unknown> = { ...options };
  for (const key of REGISTER_KEYS) delete input[key];
  return {
    config: resolveConfig(input, 'tusport plugin options'),
    prefix: typeof options.prefix === 'string' ? options.prefix : '',
    logLevel: typeof options.logLevel === 'string' ? (options.logLevel as LogLevel) : undefined,
  };
}

/**
 * Embedded, `server.host/port/idleTimeout/shutdownTimeout/logLevel` and the connection limits
 * (`headersTimeout`, `maxConnections`, `maxConnectionsPerClient`) cannot apply: the host
 * listens, times out and counts connections, and logs. (`server.minBodyRate` does apply: it
 * watches tusport's own request bodies; `server.trustProxy` and `publicUrl` still shape the
 * URLs tusport hands out.) They are not refused (one config file can serve `tusport serve` and an
 * embedding app alike), but a value other than the default is reported once at registration,
 * naming where that setting lives instead.
 */
export function warnHostOwnedSettings(config: ResolvedConfig, log: FastifyBaseLogger): void {
  const defaults = resolveConfig({}).server;
  const ignored = (Object.keys(HOST_OWNED) as (keyof typeof HOST_OWNED)[]).filter(
    (key) => JSON.stringify(config.server[key]) !== JSON.stringify(defaults[key]),
  );
  if (ignored.length === 0) return;
  log.warn(
    { ignored: ignored.map((key) => `server.${key}`) },
    `tusport registered as a plugin ignores ${ignored.map((key) => `server.${key} (use ${HOST_OWNED[key]})`).join(', ')}: the host Fastify owns them`,
  );
}
