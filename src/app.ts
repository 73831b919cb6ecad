import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { resolveConfig } from './config/load.js';
import { answerFrameworkError } from './http/framework-errors.js';
import type { ResolvedConfig, TusportConfig } from './config/schema.js';
import { createRequestOrigin } from './endpoints/request-origin.js';
import { loggerOptions, registerRequestLog, requestLogController } from './observability/logging.js';
import { requestIdFor, requestSerializer } from './observability/request-log.js';
import { answerClientError } from './limits/client-errors.js';
import { limitServer } from './limits/server.js';
import { createTusportCore } from './plugin/core.js';
import { mountTusport } from './plugin/mount.js';

export { StoreCheckError } from './plugin/controls.js';

export interface BuildOptions {
  /** A pino logger to use instead of the one built from `server.logLevel`. */
  logger?: FastifyBaseLogger;
}

/**
 * Build a standalone tusport server for a config: a Fastify instance made from the config's
 * `server` settings with tusport mounted the way the plugin mounts it (src/plugin.ts), and
 * tusport's CORS, error answers and 404 for the whole server. Not yet listening. Throws
 * `ConfigError` for an invalid config, synchronously. To add tusport to an app of your own,
 * register the plugin instead.
 */
export function buildApp(input: TusportConfig | ResolvedConfig = {}, options: BuildOptions = {}): FastifyInstance {
  const config = resolveConfig(input);
  const origin = createRequestOrigin(config.server);
  const serializeRequest = requestSerializer(origin);
  const app = Fastify({
    ...(options.logger
      ? { loggerInstance: options.logger.child({}, { serializers: { req: serializeRequest } }) }
      : { logger: loggerOptions(config.server.logLevel, config.server.logFormat, { req: serializeRequest }) }),
    // One line per request instead (registerRequestLog).
    logController: requestLogController(),
    trustProxy: config.server.trustProxy.length > 0 ? config.server.trustProxy : false,
    connectionTimeout: config.server.idleTimeout,
    requestTimeout: 0,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    genReqId: requestIdFor,
    // A URL the router cannot read (not UTF-8, a param too long): tusport's error format.
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
  });
  registerRequestLog(app);
  // Connection-level limits (headers timeout, connection caps) belong to the server tusport owns.
  limitServer(app, config.server);
  mountTusport(app, createTusportCore(config, app.log, origin), { prefix: '', ownsServer: true });
  return app;
}
