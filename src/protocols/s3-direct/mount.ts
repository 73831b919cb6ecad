import type { FastifyInstance } from 'fastify';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { mountDirect } from './routes.js';

/** The direct-to-S3 routes of every endpoint with `direct` set. */
export function mountDirectRoutes(app: FastifyInstance, runtimes: readonly EndpointRuntime[]): void {
  for (const runtime of runtimes) {
    if (runtime.config.direct) mountDirect(app, runtime, runtime.config.direct);
  }
}
