import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import { demoPagePath } from '../demo/schema.js';
import { MetricsListenError } from '../observability/index.js';
import { collectStartupGarbage, enableEarlyCollection } from '../stores/body-garbage.js';

export interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  /** `--demo` / `--no-demo`: serve the Uppy demo page (default: on without a config file). */
  demo?: boolean;
  /** false (`--no-check`): skip the startup check of S3 stores. */
  check?: boolean;
  /** `--log-format json|pretty` (config key server.logFormat). */
  logFormat?: string;
}

/**
 * `tusport serve`: load the config, listen, and shut down gracefully on SIGTERM/SIGINT: stop
 * accepting, let in-flight requests finish for up to `server.shutdownTimeout`, then close the
 * connections that remain (bytes they already wrote stay on disk and resumable) and exit 0.
 */
export async function serve(options: ServeOptions): Promise<FastifyInstance> {
  const config = loadConfig({
    file: options.config,
    flags: {
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.demo !== undefined ? { demo: options.demo } : {}),
      ...(options.logFormat !== undefined ? { logFormat: options.logFormat } : {}),
    },
  });
  enableEarlyCollection();
  const app = buildApp(config);
  const { host, port } = config.server;
  if (options.check !== false) {
    try {
      await app.tusport.checkStores();
    } catch (error) {
      await app.close();
      throw error;
    }
  }
  // Before listening: whoever sees the "listening" line may signal at once (a pretty-log worker
  // thread can print it before this thread has run another line).
  let closing = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (closing) {
      app.log.warn(`${signal} again: closing every connection now`);
      app.server.closeAllConnections();
      return;
    }
    closing = true;
    app.log.info(`${signal}: shutting down (in-flight requests get ${config.server.shutdownTimeout} ms)`);
    const force = setTimeout(() => {
      app.log.warn('shutdown timeout: closing the connections still open');
      app.server.closeAllConnections();
    }, config.server.shutdownTimeout);
    force.unref();
    app.close().then(
      () => {
        app.log.info('tusport stopped');
        // pino writes asynchronously: process.exit() now would let the flush at exit overtake a
        // write still under way (the last two lines came out swapped on a pipe). Let the event
        // loop finish them and end by itself; if something still holds it (keep-alive sockets
        // to S3), exit shortly after anyway.
        process.exitCode = 0;
        setTimeout(() => process.exit(0), 500).unref();
      },
      (error: unknown) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  try {
    await app.listen({ host, port });
  } catch (error) {
    if (error instanceof MetricsListenError) throw new ListenError(error.message);
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ListenError(`Cannot listen on ${host}:${port}: ${reason}`);
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? `${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` : `${host}:${port}`;
  app.log.info({ endpoints: config.endpoints.map((e) => e.path) }, `tusport listening on http://${bound}`);
  collectStartupGarbage();
  const metrics = app.tusport.metrics?.url;
  if (metrics) app.log.info(`Prometheus metrics: ${metrics}`);
  if (metrics && !config.metrics.token && !isLoopback(config.metrics.host)) {
    app.log.warn(`anyone who can reach ${config.metrics.host}:${config.metrics.port} may read the metrics: set metrics.token`);
  }
  if (config.demo.enabled) app.log.info(`Uppy demo page: http://${bound}${demoPagePath(config.demo.path)}`);
  const anonymous = config.endpoints.filter((e) => e.auth.type === 'none').map((e) => e.path);
  if (anonymous.length > 0 && !isLoopback(host)) {
    app.log.warn({ endpoints: anonymous }, `anyone who can reach ${host} may upload to these endpoints: they have no auth`);
  }

  return app;
}

import { ListenError } from './listen-error.js';

export { ListenError };

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
