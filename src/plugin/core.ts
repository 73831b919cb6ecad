import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import { AuthConfigError, createAuthenticator } from '../auth/authenticate.js';
import { ConfigError } from '../config/load.js';
import type { EndpointConfig, ResolvedConfig } from '../config/schema.js';
import { RedisCoordination } from '../coordination/redis-client.js';
import { MemoryLocker } from '../coordination/memory-locker.js';
import { RedisLocker } from '../coordination/redis-locker.js';
import { sharedState, type SharedState } from '../coordination/shared.js';
import { createRequestOrigin, type RequestOrigin } from '../endpoints/request-origin.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { parseUrlTemplate } from '../endpoints/template.js';
import { HookSystem } from '../hooks/setup.js';
import { parseAccept } from '../policy/accept.js';
import { createMetrics, instrumentLocker, type MetricsRecorder } from '../observability/index.js';
import { createBackend } from '../stores/create-backend.js';
import { EndpointStore } from '../stores/endpoint-store.js';
import { completionFor } from '../uploads/completion.js';
import { quotaHolders } from '../uploads/quota-holders.js';
import { sweepAll } from '../uploads/sweep.js';
import { claimerFor } from '../files/claim-library.js';
import { type ClaimFunction, StoreCheckError, type SweepResult } from './controls.js';

/** How long a lock holder gets to finish when another request asks for its upload. */
const LOCK_DRAIN_MS = 3000;

/**
 * Everything one tusport (one config) serves, built before any route exists: its endpoints'
 * runtimes, its hooks and outbox, its locker, and its maintenance (sweep, store check). Nothing
 * here is global, so several tusports can live in one process. Building it throws `ConfigError`
 * for what the schema alone cannot check (auth keys, hook commands).
 */
export interface TusportCore {
  readonly config: ResolvedConfig;
  readonly runtimes: readonly EndpointRuntime[];
  readonly hooks: HookSystem;
  /** What the metrics record (records nothing unless `metrics.enabled`). */
  readonly metrics: MetricsRecorder;
  /** Base URL and client address of a request (server.publicUrl, server.trustProxy). */
  readonly origin: RequestOrigin;
  /** The shared Redis (`locker.type: redis`): locks, and what else the fleet shares. Started/closed with the app. */
  readonly coordination: RedisCoordination | undefined;
  sweep(now?: number): Promise<SweepResult>;
  checkStores(): Promise<void>;
  /** Claim an upload of a `claim` endpoint (src/files/claim-library.ts). */
  claim: ClaimFunction;
}

export function createTusportCore(config: ResolvedConfig, log: FastifyBaseLogger, origin: RequestOrigin = createRequestOrigin(config.server)): TusportCore {
  // One locker per tusport: upload ids are unique across its endpoints.
  const metrics = createMetrics(config.metrics);
  const coordination = config.locker.type === 'redis' ? new RedisCoordination(config.locker, log) : undefined;
  const locker = instrumentLocker(coordination ? new RedisLocker(coordination, { acquireTimeoutMs: Math.max(30_000, coordination.leaseMs + 10_000) }) : new MemoryLocker(), metrics);
  const hooks = new HookSystem(config, log, { metrics });
  // Quota counts and the sweep lease: in Redis with it (shared by the fleet), else in this process.
  const shared = sharedState(coordination, { log, cleanupIntervalMs: config.server.cleanupInterval });
  const runtimes = config.endpoints.map((endpoint, index) => buildRuntime(endpoint, index, locker, hooks, origin, metrics, coordination, shared));
  const sweep = (now = Date.now()): Promise<SweepResult> => sweepAll(runtimes, { locker, log, now, lease: shared.sweepLease });
  const checkStores = async () => {
    for (const runtime of runtimes) {
      try {
        await runtime.store.backend.check?.();
      } catch (error) {
        throw new StoreCheckError(`endpoint ${runtime.template.source}: ${(error as Error).message}`);
      }
    }
  };
  return { config, runtimes, hooks, metrics, origin, coordination, sweep, checkStores, claim: claimerFor(runtimes, log) };
}

function buildRuntime(
  endpoint: EndpointConfig,
  index: number,
  locker: Locker,
  hookSystem: HookSystem,
  origin: RequestOrigin,
  metrics: MetricsRecorder,
  coordination: RedisCoordination | undefined,
  shared: SharedState,
): EndpointRuntime {
  const template = parseUrlTemplate(endpoint.path);
  let authenticate;
  try {
    authenticate = createAuthenticator(endpoint.auth, template.source);
  } catch (error) {
    if (error instanceof AuthConfigError) throw new ConfigError(`Invalid config:\n  - endpoints[${index}].auth: ${error.message}`);
    throw error;
  }
  // With Redis, S3 stores keep their uploads' state there too (a HEAD without S3 round trips).
  const backend = createBackend(endpoint.store, metrics, coordination && { redis: coordination, expireMs: endpoint.expire });
  const hooks = hookSystem.forEndpoint(index, backend);
  const store = new EndpointStore({
    endpoint: template.source,
    backend,
    expireMs: endpoint.expire,
  });
  const accept = endpoint.policy.accept ? parseAccept(endpoint.policy.accept) : undefined;
  const quota = shared.quota(template.source, () => quotaHolders(backend, endpoint.claim !== undefined), endpoint.policy.quota);
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
    sweepHooks: [],
  };
}
