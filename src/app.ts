import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import cors, { type FastifyCorsOptions } from '@fastify/cors';
import { MemoryLocker, TUS_RESUMABLE } from '@tus/server';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import { AuthConfigError, createAuthenticator } from './auth/authenticate.js';
import { ConfigError, resolveConfig } from './config/load.js';
import { Errors } from './errors.js';
import { isHookRejection, sendHookRejection } from './hooks/errors.js';
import { HookSystem } from './hooks/setup.js';
import { answerClientError, answerFrameworkError } from './http/framework-errors.js';
import { isStorageFailure, storageError } from './protocol/storage-errors.js';
import type { EndpointConfig, ResolvedConfig, TusportConfig } from './config/schema.js';
import { demoPage } from './demo/plugin.js';
import { completionFor } from './endpoints/complete.js';
import { mountEndpoint } from './endpoints/routes.js';
import type { EndpointRuntime } from './endpoints/runtime.js';
import { createRequestOrigin, type RequestOrigin } from './endpoints/request-origin.js';
import { parseUrlTemplate } from './endpoints/template.js';
import { parseAccept } from './policy/accept.js';
import { QuotaTracker } from './policy/quota.js';
import { registerHealth } from './observability/health.js';
import type { SweepResult } from './stores/backend.js';
import { createBackend } from './stores/create-backend.js';
import { EndpointStore } from './stores/endpoint-store.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** tusport's maintenance entry points (also run on a timer while listening). */
    tusport: {
      sweep(now?: number): Promise<SweepResult>;
      /** Check that every endpoint's store is usable (S3: bucket reachable, credentials valid); throws naming the endpoint. */
      checkStores(): Promise<void>;
    };
  }
}

export interface BuildOptions {
  /** A pino logger to use instead of the one built from `server.logLevel`. */
  logger?: FastifyBaseLogger;
}

/** Headers a browser client must be allowed to send and to read (tus over CORS). */
const TUS_REQUEST_HEADERS = [
  'Authorization',
  'Content-Type',
  'Tus-Resumable',
  'Upload-Concat',
  'Upload-Defer-Length',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Offset',
  'X-HTTP-Method-Override',
  'X-Requested-With',
];
const TUS_RESPONSE_HEADERS = [
  'Location',
  'Upload-Offset',
  'Upload-Length',
  'Upload-Metadata',
  'Upload-Expires',
  'Upload-Defer-Length',
  'Upload-Concat',
  'Tus-Version',
  'Tus-Resumable',
  'Tus-Max-Size',
  'Tus-Extension',
  'X-Request-Id',
  'WWW-Authenticate',
];
const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** How long a lock holder gets to finish when another request asks for its upload. */
const LOCK_DRAIN_MS = 3000;

/**
 * Build a tusport server for a config: a Fastify instance with every endpoint mounted, not yet
 * listening. Throws `ConfigError` for an invalid config.
 */
export function buildApp(input: TusportConfig | ResolvedConfig = {}, options: BuildOptions = {}): FastifyInstance {
  const config = resolveConfig(input);
  const requestOrigin = createRequestOrigin(config.server);
  const serializeRequest = requestSerializer(requestOrigin);
  const app = Fastify({
    ...(options.logger
      ? { loggerInstance: options.logger.child({}, { serializers: { req: serializeRequest } }) }
      : {
          logger: {
            level: config.server.logLevel,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            serializers: { req: serializeRequest },
          },
        }),
    trustProxy: config.server.trustProxy.length > 0 ? config.server.trustProxy : false,
    connectionTimeout: config.server.idleTimeout,
    requestTimeout: 0,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 512 },
    frameworkErrors: answerFrameworkError,
    clientErrorHandler: answerClientError,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });

  app.decorateRequest('uploadContext', null);
  app.addHook('onSend', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    // RFC 9110 8.6: no Content-Length on a 204 (@fastify/cors sets one on preflights).
    if (reply.statusCode === 204) reply.removeHeader('Content-Length');
  });
  app.setErrorHandler((thrown: FastifyError, request, reply) => {
    if (isHookRejection(thrown)) return sendHookRejection(reply, thrown);
    // A store failure from any step (S3 down or refusing, a full disk) is 503/507 with its cause
    // logged, wherever it surfaced; only what is truly unexpected is a 500.
    const error: FastifyError = thrown.statusCode === undefined && isStorageFailure(thrown) ? (storageError(thrown, request.log) as FastifyError) : thrown;
    const status = error.statusCode ?? 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const known = error.statusCode !== undefined;
    return reply.code(status).send({
      statusCode: status,
      code: known ? error.code : 'TUSPORT_ERR_INTERNAL',
      error: STATUS_CODES[status] ?? 'Error',
      message: known ? error.message : 'Something went wrong on our side; the request id is in X-Request-Id',
    });
  });

  const corsOptions = {
    origin: config.cors.origins === '*' ? '*' : config.cors.origins,
    credentials: config.cors.credentials,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE', 'OPTIONS'],
    allowedHeaders: TUS_REQUEST_HEADERS,
    exposedHeaders: TUS_RESPONSE_HEADERS,
    maxAge: Math.round(config.cors.maxAge / 1000),
  };
  // Only a real preflight (it names Access-Control-Request-Method) is answered by @fastify/cors;
  // a plain OPTIONS is tus discovery and must reach the endpoint for Tus-Version/Tus-Extension.
  app.setNotFoundHandler((request, reply) => {
    // tus: every response but OPTIONS carries Tus-Resumable, `PATCH /files/` (no id) included.
    if (request.method !== 'OPTIONS') reply.header('Tus-Resumable', TUS_RESUMABLE);
    throw new Errors.ROUTE_NOT_FOUND(request.method, request.url.split('?')[0]?.slice(0, 200));
  });

  app.register(cors, () => (request: FastifyRequest, callback: (error: Error | null, options: FastifyCorsOptions) => void) => {
    const preflight = request.headers['access-control-request-method'] !== undefined;
    callback(null, { ...corsOptions, preflight });
  });

  registerHealth(
    app,
    config.endpoints.map((endpoint) => endpoint.path),
  );
  app.register(demoPage, { config });

  // One locker for the process: upload ids are unique across endpoints.
  const locker = new MemoryLocker();
  const hooks = new HookSystem(config, app.log);
  app.addHook('onReady', () => hooks.start());
  app.addHook('onClose', () => hooks.close());
  const runtimes = config.endpoints.map((endpoint, index) => buildRuntime(endpoint, index, locker, hooks, requestOrigin));
  registerSweep(app, config, locker, runtimes);
  app.register(async (tus) => {
    // tus bodies are streams we read ourselves (or hand to @tus/server): Fastify must not parse them.
    tus.removeAllContentTypeParsers();
    tus.addContentTypeParser('*', (_request, _payload, done) => done(null));
    for (const runtime of runtimes) mountEndpoint(tus, runtime);
  });
  return app;
}

function buildRuntime(endpoint: EndpointConfig, index: number, locker: MemoryLocker, hookSystem: HookSystem, origin: RequestOrigin): EndpointRuntime {
  const template = parseUrlTemplate(endpoint.path);
  let authenticate;
  try {
    authenticate = createAuthenticator(endpoint.auth, template.source);
  } catch (error) {
    if (error instanceof AuthConfigError) throw new ConfigError(`Invalid config:\n  - endpoints[${index}].auth: ${error.message}`);
    throw error;
  }
  const backend = createBackend(endpoint.store);
  const hooks = hookSystem.forEndpoint(index, backend);
  const store = new EndpointStore({
    endpoint: template.source,
    backend,
    maxChunkSize: endpoint.maxChunkSize,
    expireMs: endpoint.expire,
    onCreated: (context, stored) => hooks.notify('post-create', context, stored),
  });
  const accept = endpoint.policy.accept ? parseAccept(endpoint.policy.accept) : undefined;
  const quota = new QuotaTracker(template.source, () => backend.unfinished(), endpoint.policy.quota);
  return {
    config: endpoint,
    template,
    store,
    locker,
    lockDrainMs: LOCK_DRAIN_MS,
    authenticate,
    accept,
    quota,
    hooks,
    origin,
    complete: completionFor({ config: endpoint, store, accept, quota, hooks }),
  };
}

/** Sweep expired uploads and crash debris every `server.cleanupInterval` while the app runs. */
function registerSweep(app: FastifyInstance, config: ResolvedConfig, locker: MemoryLocker, runtimes: EndpointRuntime[]): void {
  const sweep = async (now = Date.now()): Promise<SweepResult> => {
    const total: SweepResult = { expired: 0, leftovers: 0 };
    for (const runtime of runtimes) {
      const result = await runtime.store.backend.sweep({
        endpoint: runtime.template.source,
        expireMs: runtime.config.expire,
        locker,
        log: app.log,
        now,
        onRemoved: (sidecar) => runtime.quota.release(sidecar.tusport.owner, sidecar.id),
      });
      total.expired += result.expired;
      total.leftovers += result.leftovers;
    }
    return total;
  };
  const checkStores = async () => {
    for (const runtime of runtimes) {
      try {
        await runtime.store.backend.check?.();
      } catch (error) {
        throw new StoreCheckError(`endpoint ${runtime.template.source}: ${(error as Error).message}`);
      }
    }
  };
  app.decorate('tusport', { sweep, checkStores });
  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    timer = setInterval(() => {
      sweep().catch((error: unknown) => app.log.error({ err: error }, 'store sweep failed'));
    }, config.server.cleanupInterval);
    timer.unref();
  });
  app.addHook('onClose', async () => clearInterval(timer));
}

/**
 * What a request log line says about the request. Query values are redacted: tokens may travel
 * in the query string (auth.tokenFrom.query) and must never reach the logs.
 */
const requestSerializer = (origin: RequestOrigin) => (request: FastifyRequest) => {
  const [pathname, query] = request.url.split('?', 2);
  const url = query === undefined ? pathname : `${pathname}?${query.replace(/=[^&]*/g, '=[redacted]')}`;
  return { method: request.method, url, host: request.host, remoteAddress: origin.clientAddress(request), remotePort: request.socket?.remotePort };
};

/** A store failed its startup check (`tusport serve` exits 2 with this message). */
export class StoreCheckError extends Error {
  override name = 'StoreCheckError';
}
