import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../config/schema.js';
import { limitConnections } from './connections.js';
import { defaultMaxConnections, openFileLimit } from './fd-limit.js';

/**
 * The standalone server's limits on what clients may hold open: headers that must arrive within
 * `server.headersTimeout`, and caps on connections (total and per client address). Per-request
 * limits (the minimum body rate) are in `watchBodyRate`, which also applies when embedded.
 */
export function limitServer(app: FastifyInstance, server: ResolvedConfig['server']): void {
  app.server.headersTimeout = server.headersTimeout;
  // Node looks for expired headers only every connectionsCheckingInterval (30 s by default):
  // a 20 s headers timeout would really be up to 50 s. (A createServer option Node reads when the
  // server starts listening; its types do not list it as a property.)
  (app.server as typeof app.server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1000, Math.max(100, Math.floor(server.headersTimeout / 4)));
  const fdLimit = openFileLimit();
  const maxConnections = server.maxConnections ?? defaultMaxConnections(fdLimit);
  app.addHook('onListen', async () => {
    app.log.info(
      { maxConnections, maxConnectionsPerClient: server.maxConnectionsPerClient, openFileLimit: fdLimit, headersTimeout: server.headersTimeout, minBodyRate: server.minBodyRate },
      `connection limits: at most ${maxConnections} connections${server.maxConnections === undefined ? ` (derived from the open-file limit ${fdLimit ?? 'unknown'})` : ''}, ${server.maxConnectionsPerClient} per client address`,
    );
  });
  limitConnections(app, {
    maxConnections,
    maxConnectionsPerClient: server.maxConnectionsPerClient,
    trustProxy: server.trustProxy,
    headersTimeout: server.headersTimeout,
  });
}
