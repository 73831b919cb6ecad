import { createHash } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError } from '../config/load.js';
import type { ResolvedConfig } from '../config/schema.js';
import { NO_METRICS, type MetricsRecorder } from '../observability/metrics/recorder.js';
import type { StorageBackend } from '../stores/backend.js';
import { backoff, EndpointHooks, type HookBinding, type Notifier } from './dispatcher.js';
import { DURABLE_EVENTS, type HookEventName, type HookRequest } from './events.js';
import { DiskOutbox, type Outbox, type OutboxMessage } from './outbox.js';
import type { RedisOutboxOptions } from './redis-outbox.js';
import type { HookConfig } from './schema.js';
import { commandTransport } from './transports/command.js';
import { functionTransport } from './transports/function.js';
import { httpTransport } from './transports/http.js';
import { redisLabel } from './redis-label.js';

/**
 * The hooks of every endpoint of one app, and the one outbox their notifications share.
 * Built with the app (a bad hook config is a ConfigError naming the key), started when it is
 * ready (the outbox picks up what an earlier run left), closed with it.
 */
export class HookSystem implements Notifier {
  private readonly bindings: HookBinding[][];
  private readonly byId = new Map<string, HookBinding>();
  private readonly outbox: Outbox | undefined;
  private readonly stopping = new AbortController();
  private readonly metrics: MetricsRecorder;

  constructor(
    private readonly config: ResolvedConfig,
    private readonly log: FastifyBaseLogger,
    { env = process.env, metrics = NO_METRICS }: { env?: NodeJS.ProcessEnv; metrics?: MetricsRecorder } = {},
  ) {
    this.metrics = metrics;
    this.bindings = config.endpoints.map((endpoint, i) => endpoint.hooks.map((hook, j) => bindingFor(hook, endpoint.path, `endpoints[${i}].hooks[${j}]`, j, env)));
    for (const binding of this.bindings.flat()) this.byId.set(binding.id, binding);
    const durable = this.bindings.flat().some((binding) => [...binding.events].some((event) => DURABLE_EVENTS.has(event)));
    // Only an app with notification hooks touches the outbox (directory or Redis) at all.
    this.outbox = durable ? this.buildOutbox(config, log) : undefined;
  }

  private buildOutbox(config: ResolvedConfig, log: FastifyBaseLogger): Outbox {
    const delivery = {
      giveUpAfterMs: config.outbox.giveUpAfter,
      log,
      deliver: (message: OutboxMessage, _attempt: number, signal: AbortSignal) => this.deliver(message, signal),
      retryDelay: (hookId: string, attempt: number) => {
        const binding = this.byId.get(hookId);
        return backoff(attempt, binding?.retryDelay ?? 1000, binding?.maxRetryDelay ?? 300_000);
      },
      knows: (hookId: string) => this.byId.has(hookId),
      label: (hookId: string) => this.byId.get(hookId)?.label ?? hookId,
    };
    if (config.outbox.type === 'disk') return new DiskOutbox({ ...delivery, directory: path.resolve(config.outbox.directory) });
    // A claim must outlast any one delivery attempt (each is cut off at its hook's timeout), or a
    // slow hook would be called twice at once; it is also how long a crashed claimer's messages wait.
    const longestTimeout = Math.max(0, ...config.endpoints.flatMap((endpoint) => endpoint.hooks.map((hook) => hook.timeout)));
    return lazyRedisOutbox({ ...delivery, url: config.outbox.url, keyPrefix: config.outbox.keyPrefix, leaseMs: longestTimeout + 10_000 });
  }

  forEndpoint(index: number, backend: Pick<StorageBackend, 'describe'>): EndpointHooks {
    const endpoint = this.config.endpoints[index];
    if (!endpoint) throw new Error(`no endpoint ${index}`);
    return new EndpointHooks({
      bindings: this.bindings[index] ?? [],
      notifier: this,
      postReceiveIntervalMs: endpoint.postReceiveInterval,
      tokenQuery: endpoint.auth.type === 'none' ? undefined : endpoint.auth.tokenFrom.query,
      backend,
      metrics: this.metrics,
    });
  }

  /** Notifications waiting in the outbox; undefined without one or when it cannot tell (Redis down). */
  async outboxDepth(): Promise<number | undefined> {
    return this.outbox?.depth().catch(() => undefined);
  }

  /** What /readyz asks: can notifications be queued? Undefined when there is no outbox to check. */
  outboxCheck(): { kind: 'disk' | 'redis'; check: () => Promise<void> } | undefined {
    const outbox = this.outbox;
    return outbox && { kind: this.config.outbox.type, check: () => outbox.check() };
  }

  /** Where this app's notifications wait (`undefined`: it has none). Two apps must not share one. */
  get outboxLocation(): string | undefined {
    if (!this.outbox) return undefined;
    const { outbox } = this.config;
    return outbox.type === 'disk' ? `outbox.directory ${path.resolve(outbox.directory)}` : `Redis outbox ${redisLabel(outbox.url)} (keyPrefix ${JSON.stringify(outbox.keyPrefix)})`;
  }

  start(): Promise<void> {
    return this.outbox?.start() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.stopping.abort(new Error('tusport is shutting down'));
    await this.outbox?.close();
  }

  async send(binding: HookBinding, request: HookRequest, key: string, log: FastifyBaseLogger): Promise<void> {
    const message = { hook: binding.id, event: request.Type, uploadId: request.Event.Upload.ID, idempotencyKey: key, body: JSON.stringify(request) };
    const fields = { uploadId: message.uploadId, event: message.event, hook: binding.label };
    try {
      if (!this.outbox) throw new Error('no outbox');
      await this.outbox.add(message);
      log.info(fields, 'hook notification queued');
    } catch (error) {
      // The client still gets its answer: the upload is fine, only this notification is at risk.
      log.error({ ...fields, err: error }, 'could not write the hook notification to the outbox; trying once without a durable copy');
      this.deliver({ ...message, createdAt: Date.now() }, this.stopping.signal).then(
        () => log.info(fields, 'hook notification delivered'),
        (failure: unknown) => log.error({ ...fields, reason: failure instanceof Error ? failure.message : String(failure) }, 'hook notification lost'),
      );
    }
  }

  private async deliver(message: OutboxMessage, signal: AbortSignal): Promise<void> {
    const binding = this.byId.get(message.hook);
    if (!binding) throw new Error('no such hook in the config');
    let failed = true;
    try {
      await binding.transport.invoke({ request: JSON.parse(message.body) as HookRequest, body: message.body, idempotencyKey: message.idempotencyKey, signal });
      failed = false;
    } finally {
      this.metrics.hookInvoked(message.event, failed);
    }
  }
}

function bindingFor(hook: HookConfig, endpointPath: string, key: string, index: number, env: NodeJS.ProcessEnv): HookBinding {
  const shared = {
    failOpen: hook.failOpen,
    retryDelay: hook.retryDelay,
    maxRetryDelay: hook.maxRetryDelay,
    forwardHeaders: hook.forwardHeaders,
    principalClaims: hook.principalClaims,
  };
  const id = (identity: unknown) => createHash('sha256').update(JSON.stringify([endpointPath, hook.type, identity])).digest('hex').slice(0, 16);
  switch (hook.type) {
    case 'http': {
      const secret = hook.secret ?? env[hook.secretEnv ?? ''];
      if (!secret) throw configError(`${key}.secretEnv`, `environment variable ${hook.secretEnv} is not set`);
      if (secret.length < 32) throw configError(`${key}.secretEnv`, `the secret in ${hook.secretEnv} must be at least 32 characters`);
      const transport = httpTransport({ url: hook.url, secret, timeoutMs: hook.timeout, forwardHeaders: hook.forwardHeaders });
      return { ...shared, id: id(hook.url), label: transport.label, events: new Set(hook.events), transport, retries: hook.retries };
    }
    case 'command': {
      const program = hook.command[0] ?? '';
      if (program.includes('/')) {
        try {
          accessSync(program, constants.X_OK);
        } catch {
          throw configError(`${key}.command`, `${JSON.stringify(program)} is not an executable file`);
        }
      }
      const transport = commandTransport({ command: hook.command, timeoutMs: hook.timeout });
      return { ...shared, id: id(hook.command), label: transport.label, events: new Set(hook.events), transport, retries: 0 };
    }
    case 'function': {
      const transport = functionTransport(hook.handlers, hook.timeout, `function:${endpointPath}#${index}`);
      const events = Object.keys(hook.handlers) as HookEventName[];
      return { ...shared, id: id(index), label: transport.label, events: new Set(events), transport, retries: 0 };
    }
  }
}

function configError(key: string, message: string): ConfigError {
  return new ConfigError(`Invalid config:\n  - ${key}: ${message}`);
}

/**
 * The Redis outbox, its module (and ioredis, ~13 MB of memory per process) loaded only when a
 * config uses it; every call waits for the load, then goes to the real RedisOutbox.
 */
function lazyRedisOutbox(options: RedisOutboxOptions): Outbox {
  let loading: Promise<Outbox> | undefined;
  const load = () => (loading ??= import('./redis-outbox.js').then(({ RedisOutbox }) => new RedisOutbox(options)));
  return {
    add: async (message) => (await load()).add(message),
    start: async () => (await load()).start(),
    close: async () => {
      if (loading) await (await loading).close();
    },
    depth: async () => (await load()).depth(),
    check: async () => (await load()).check(),
  };
}
