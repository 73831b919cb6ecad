import type { FastifyInstance } from 'fastify';
import { buildApp } from '../app.js';
import { loadConfig } from '../config/load.js';
import { demoPagePath } from '../demo/schema.js';

export interface ServeOptions {
  config?: string;
  host?: string;
  port?: string;
  /** `--demo` / `--no-demo`: serve the Uppy demo page (default: on without a config file). */
  demo?: boolean;
  /** false (`--no-check`): skip the startup check of S3 stores. */
  check?: boolean;
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
    },
  });
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
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'EADDRINUSE' ? 'the address is already in use' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new ListenError(`Cannot listen on ${host}:${port}: ${reason}`);
  }
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? `${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` : `${host}:${port}`;
  app.log.info({ endpoints: config.endpoints.map((e) => e.path) }, `tusport listening on http://${bound}`);
  if (config.demo.enabled) app.log.info(`Uppy demo page: http://${bound}${demoPagePath(config.demo.path)}`);
  const anonymous = config.endpoints.filter((e) => e.auth.type === 'none').map((e) => e.path);
  if (anonymous.length > 0 && !isLoopback(host)) {
    app.log.warn({ endpoints: anonymous }, `anyone who can reach ${host} may upload to these endpoints: they have no auth`);
  }

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
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  return app;
}

export class ListenError extends Error {}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
