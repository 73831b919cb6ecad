import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import { redisLabel } from '../hooks/redis-label.js';
import { CoordinationErrors } from './errors.js';
import type { RedisLockerConfig } from './schema.js';

/** How long the first connection (at startup) is waited for before requests get 503. */
const CONNECT_TIMEOUT_MS = 5_000;

type MessageHandler = (message: string) => void;

/**
 * The one Redis a tusport coordinates through (`locker: { type: redis }`): upload locks, and for
 * whoever builds on it, shared quotas and the sweep lease. Built by the plugin core and handed to
 * what needs it (no global), started on the app's onReady, closed on its onClose.
 *
 * Two connections, because a connection that has subscribed can send nothing but (un)subscribes:
 * `redis()` for commands, and one subscriber that listens to every channel under `keyPrefix` (one
 * PSUBSCRIBE when it connects; `listen` only registers a handler locally, so taking a lock costs
 * no subscription round trip, and messages are few: they go out on contention and on release).
 * Both reconnect forever with jittered backoff (to 5 s) and fail commands at once while
 * disconnected rather than queueing them: a request is answered 503 `TUSPORT_ERR_COORDINATION_UNAVAILABLE` instead of
 * hanging. An outage is logged once, by `redisLabel(url)` (never the credentials), and its end once.
 * ioredis (~13 MB per process) is loaded only when a config asks for Redis.
 */
export class RedisCoordination {
  /** `redis://host:port/db`: what logs and messages may say about this Redis. */
  readonly label: string;
  readonly keyPrefix: string;
  /** The lock lease (`locker.lease`), ms. */
  readonly leaseMs: number;
  private connecting: Promise<{ commands: Redis; subscriber: Redis }> | undefined;
  /** The subscriber has confirmed its PSUBSCRIBE (since its last connection). */
  private listening = false;
  private everListened = false;
  private readonly whenListening = new Set<() => void>();
  /** Connections that have been ready once: from then on, a disconnection fails requests at once. */
  private readonly wasReady = new WeakSet<Redis>();
  private readonly handlers = new Map<string, Set<MessageHandler>>();
  private everReady = false;
  private down = false;
  private closed = false;

  constructor(
    private readonly config: RedisLockerConfig,
    private readonly log: FastifyBaseLogger,
  ) {
    this.label = redisLabel(config.url);
    this.keyPrefix = config.keyPrefix;
    this.leaseMs = config.lease;
  }

  /** Whether both connections are up right now. */
  get reachable(): boolean {
    return !this.down && this.everReady && this.listening;
  }

  /** Connect in the background (a Redis that is down at startup is retried, and logged). */
  async start(): Promise<void> {
    this.connections().catch(() => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (!this.connecting) return;
    const { commands, subscriber } = await this.connecting;
    await Promise.all(
      [commands, subscriber].map((connection) => (connection.status === 'ready' ? connection.quit().catch(() => connection.disconnect()) : connection.disconnect())),
    );
  }

  /** The command connection, ready; throws `TUSPORT_ERR_COORDINATION_UNAVAILABLE` while Redis is down. */
  async redis(): Promise<Redis> {
    const { commands } = await this.connections();
    if (commands.status !== 'ready') await this.firstConnection(commands);
    return commands;
  }

  /** Both connections ready and listening (a request that takes a lock needs both); throws 503 otherwise. */
  async ready(): Promise<Redis> {
    const commands = await this.redis();
    const { subscriber } = await this.connections();
    if (!this.listening) await this.firstListen(subscriber);
    return commands;
  }

  /**
   * What `/readyz` runs: both connections up (a request that takes a lock needs both: after an
   * outage the listening connection may come back after the command one), then a PING.
   */
  async check(): Promise<void> {
    try {
      await (await this.ready()).ping();
    } catch {
      throw new Error(`Redis at ${this.label} is unreachable`);
    }
  }

  /** The 503 a request gets while Redis is down (also for a command that failed mid-flight). */
  unavailable(): Error {
    return new CoordinationErrors.UNAVAILABLE(this.label);
  }

  /**
   * Receive the messages published on `channel` (under `keyPrefix`) until the returned function is
   * called. Nothing to wait for: the subscriber already listens to the whole prefix (an outage
   * loses messages; callers poll as well).
   */
  listen(channel: string, handler: MessageHandler): () => void {
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
    }
    set.add(handler);
    return () => {
      set.delete(handler);
      if (set.size === 0 && this.handlers.get(channel) === set) this.handlers.delete(channel);
    };
  }

  private connections(): Promise<{ commands: Redis; subscriber: Redis }> {
    return (this.connecting ??= this.open());
  }

  private async open(): Promise<{ commands: Redis; subscriber: Redis }> {
    const { Redis } = await import('ioredis');
    const options = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: 5_000,
      // Reconnect forever, backing off to 5 s, with jitter so a fleet does not reconnect in step.
      retryStrategy: (times: number) => Math.min(5_000, 100 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2),
    };
    const commands = new Redis(this.config.url, options);
    // No command timeout on the subscriber: it only waits for messages.
    const subscriber = new Redis(this.config.url, { ...options, commandTimeout: undefined, autoResubscribe: false });
    const lost = (reason: string) => {
      if (this.down || this.closed) return;
      this.down = true;
      this.log.error({ redis: this.label, reason }, `coordination Redis at ${this.label} unreachable; upload requests get 503 until it is back (reconnecting in the background)`);
    };
    commands.on('error', (error: Error) => lost(error.message));
    commands.on('close', () => {
      if (this.everReady) lost('connection closed');
    });
    commands.on('ready', () => this.wasReady.add(commands));
    commands.on('ready', () => {
      if (this.down || !this.everReady) this.log.info({ redis: this.label }, `coordination Redis at ${this.label} connected`);
      this.everReady = true;
      this.down = false;
    });
    // Its errors are the same outage, already logged through the command connection.
    subscriber.on('error', () => undefined);
    // Each (re)connection listens again; until Redis confirms it, lock requests get 503.
    subscriber.on('ready', () => {
      subscriber.psubscribe(`${globEscape(this.keyPrefix)}*`).then(
        () => {
          this.listening = true;
          this.everListened = true;
          for (const wake of this.whenListening) wake();
        },
        () => undefined,
      );
    });
    subscriber.on('close', () => {
      this.listening = false;
    });
    subscriber.on('pmessage', (_pattern: string, channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    commands.connect().catch(() => undefined);
    subscriber.connect().catch(() => undefined);
    return { commands, subscriber };
  }

  /** At startup the subscriber's first PSUBSCRIBE is waited for; once it was listening (or failed), fail at once. */
  private async firstListen(subscriber: Redis): Promise<void> {
    if (this.everListened || this.down || this.closed) throw this.unavailable();
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.whenListening.delete(wake);
        subscriber.off('error', settle);
        if (error) reject(this.unavailable());
        else resolve();
      };
      const wake = () => settle();
      const timer = setTimeout(() => settle(new Error('timeout')), CONNECT_TIMEOUT_MS);
      this.whenListening.add(wake);
      subscriber.once('error', settle);
    });
  }

  /** At startup the first connection is waited for; once it has failed (or after), fail at once. */
  private async firstConnection(commands: Redis): Promise<void> {
    if (this.wasReady.has(commands) || this.down || this.closed) throw this.unavailable();
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        commands.off('ready', onReady);
        commands.off('error', settle);
        if (error) reject(this.unavailable());
        else resolve();
      };
      const onReady = () => settle();
      const timer = setTimeout(() => settle(new Error('timeout')), CONNECT_TIMEOUT_MS);
      commands.once('ready', onReady);
      commands.once('error', settle);
    });
  }
}

/** `prefix` as a literal in a Redis glob pattern. */
function globEscape(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (char) => `\\${char}`);
}
