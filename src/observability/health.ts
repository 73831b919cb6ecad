import type { FastifyInstance } from 'fastify';

export const HEALTH_PATH = '/healthz';

/** `GET /healthz`: the process is up and serving. Load balancers poll it. */
export function registerHealth(app: FastifyInstance, endpoints: string[]): void {
  const startedAt = new Date().toISOString();
  app.get(HEALTH_PATH, { logLevel: 'warn' }, async () => ({ status: 'ok', startedAt, endpoints }));
}
