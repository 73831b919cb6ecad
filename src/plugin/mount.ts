import type { FastifyInstance, LogLevel } from 'fastify';
import type { ResolvedConfig } from '../config/schema.js';
import { demoPage } from '../demo/plugin.js';
import { mountEndpoint } from '../endpoints/routes.js';
import { mountDirectRoutes } from '../protocols/s3-direct/mount.js';
import { watchBodyRate } from '../limits/body-rate.js';
import { registerHealth } from '../observability/health.js';
import { type MetricsHandle, registerOperations } from '../observability/index.js';
import { describeSharedLocation, sharedStoreLocations } from '../stores/shared-location.js';
import { requestSerializer } from '../observability/request-log.js';
import { type SweepTimer, startSweepTimer } from '../uploads/sweep-timer.js';
import { registerErrorAnswers } from './answers.js';
import { joinControls } from './controls.js';
import type { TusportCore } from './core.js';
import { registerCors } from './cors.js';

export interface MountOptions {
  prefix: string;
  logLevel?: LogLevel | undefined;
  /**
   * Standalone (`buildApp`): tusport is the whole server, so its CORS, error answers, 404 and
   * X-Request-Id apply to every URL, not only to its routes.
   */
  ownsServer: boolean;
}

/** Put a built tusport into `host`: its routes in a child context, its lifecycle on the host's. */
export function mountTusport(host: FastifyInstance, core: TusportCore, options: MountOptions): void {
  const { config } = core;
  // At registration, so `tusport serve` logs these before "listening" and an embedding app gets them too.
  for (const shared of sharedStoreLocations(config.endpoints)) {
    host.log.warn({ endpoint: shared.endpoint, params: shared.params }, describeSharedLocation(shared));
  }
  // Known once tusport's routes are registered (the metrics count the requests of its scope).
  let metrics: MetricsHandle | undefined;
  joinControls(host, { prefix: options.prefix, outbox: core.hooks.outboxLocation, sweep: core.sweep, checkStores: core.checkStores, claim: core.claim, metrics: () => metrics });
  if (options.ownsServer) applyPolicy(host, config, { notFound: true });
  host.register(
    async (scope) => {
      if (!options.ownsServer) applyPolicy(scope, config, { notFound: options.prefix !== '' });
      scope.decorateRequest('uploadContext', null);
      // In the body path, so it holds embedded too.
      watchBodyRate(scope, config.server.minBodyRate);
      registerLifecycle(scope, core);
      registerHealth(
        scope,
        config.endpoints.map((endpoint) => endpoint.path),
      );
      metrics = registerOperations(scope, config, core);
      scope.register(demoPage, { config });
      scope.register(async (tus) => {
        // tus bodies are streams the handlers read themselves: Fastify must not parse them.
        tus.removeAllContentTypeParsers();
        tus.addContentTypeParser('*', (_request, _payload, done) => done(null));
        for (const runtime of core.runtimes) mountEndpoint(tus, runtime);
      });
      // JSON bodies, parsed by Fastify: a scope of their own.
      scope.register(async (direct) => mountDirectRoutes(direct, core.runtimes));
    },
    {
      prefix: options.prefix,
      // The host's logger logs tusport's requests: keep upload tokens in query strings out of it.
      // (Fastify types serializers as returning strings; pino's, which these are, return objects.)
      logSerializers: { req: requestSerializer(core.origin) } as unknown as Record<string, (value: unknown) => string>,
      ...(options.logLevel !== undefined ? { logLevel: options.logLevel } : {}),
    },
  );
}

/** CORS, error answers, 404 and X-Request-Id: tusport's way of answering, on `scope`. */
function applyPolicy(scope: FastifyInstance, config: ResolvedConfig, options: { notFound: boolean }): void {
  scope.addHook('onSend', async (request, reply) => {
    reply.header('X-Request-Id', request.id);
    // RFC 9110 8.6: no Content-Length on a 204.
    if (reply.statusCode === 204) reply.removeHeader('Content-Length');
  });
  registerCors(scope, config.cors);
  registerErrorAnswers(scope, options);
}

/** The outbox delivers, the stores are swept and Redis is connected while the app runs: from its onReady to its onClose. */
function registerLifecycle(scope: FastifyInstance, core: TusportCore): void {
  let timer: SweepTimer | undefined;
  scope.addHook('onReady', async () => {
    await core.coordination?.start();
    await core.hooks.start();
    timer = startSweepTimer(
      () => core.sweep().catch((error: unknown) => scope.log.error({ err: error }, 'store sweep failed')),
      core.config.server.cleanupInterval,
    );
  });
  // Quota counts rebuilt once the server listens, not by the first quota-checked request (/readyz
  // waits for them); an app only made ready (`tusport cleanup`) serves nothing and skips it.
  scope.addHook('onListen', async () => {
    for (const runtime of core.runtimes) runtime.quota.start?.();
  });
  scope.addHook('onClose', async () => {
    timer?.stop();
    await core.hooks.close();
    await core.coordination?.close();
  });
}
