import type { FastifyInstance } from 'fastify';
import type { ResolvedConfig } from '../config/schema.js';
import type { RedisCoordination } from '../coordination/redis-client.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import type { HookSystem } from '../hooks/setup.js';
import type { MetricsHandle } from './metrics/handle.js';
import { registerMetrics } from './metrics/register.js';
import type { MetricsRecorder } from './metrics/recorder.js';
import { type ReadinessCheck, registerReadiness } from './readiness.js';

export type { MetricsHandle } from './metrics/handle.js';
export { createMetrics, MetricsListenError } from './metrics/register.js';
export type { MetricsRecorder } from './metrics/recorder.js';
export { instrumentLocker } from './metrics/instrument.js';
export { loggerOptions, registerRequestLog, requestLogController } from './logging.js';

/**
 * What an operator watches besides the uploads: `/readyz` (each store, the outbox, the Redis locker) and, when
 * `metrics.enabled`, the Prometheus metrics on their own listener. Returns the metrics handle
 * (undefined with metrics off).
 */
export function registerOperations(
  app: FastifyInstance,
  config: ResolvedConfig,
  parts: { metrics: MetricsRecorder; runtimes: readonly EndpointRuntime[]; hooks: HookSystem; coordination: RedisCoordination | undefined },
): MetricsHandle | undefined {
  const checks: ReadinessCheck[] = parts.runtimes.map(({ template, store: { backend } }) => ({
    name: `store ${template.source}`,
    kind: backend.kind,
    check: async () => backend.check?.(),
  }));
  // Quota counts still being rebuilt from the store (after a start): not ready to take uploads yet.
  for (const { template, quota } of parts.runtimes) {
    if (quota.enabled && quota.ready) checks.push({ name: `quota counts ${template.source}`, kind: 'quota', check: async () => quota.ready?.() });
  }
  const outbox = parts.hooks.outboxCheck();
  if (outbox) checks.push({ name: 'outbox', ...outbox });
  const { coordination } = parts;
  if (coordination) checks.push({ name: 'locker', kind: 'redis', check: () => coordination.check() });
  registerReadiness(app, checks);
  return registerMetrics(app, config.metrics, parts.metrics, () => parts.hooks.outboxDepth());
}
