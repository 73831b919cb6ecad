import type { FastifyInstance } from 'fastify';

/** `GET /healthz`: the process is up and serving. Load balancers poll it. */
export function registerHealth(app: FastifyInstance, endpoints: string[]): void {
  const startedAt = new Date().toISOString();
  app.get('/healthz', { logLevel: 'warn' }, async () => ({ status: 'ok', startedAt, endpoints }));
}
