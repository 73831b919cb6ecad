import type { FastifyInstance } from 'fastify';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { mountDirect } from './routes.js';
import { directSweepHook } from './sweep.js';

/** The direct-to-S3 routes of every endpoint with `direct` set, and their part of the sweep. */
export function mountDirectRoutes(app: FastifyInstance, runtimes: readonly EndpointRuntime[]): void {
  for (const runtime of runtimes) {
    if (!runtime.config.direct) continue;
    mountDirect(app, runtime, runtime.config.direct);
    runtime.sweepHooks.push(directSweepHook(runtime));
  }
}
