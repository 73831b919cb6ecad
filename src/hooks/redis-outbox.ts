import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import { Redis } from 'ioredis';
import type { Outbox, OutboxDelivery, OutboxMessage } from './outbox.js';
import { redisLabel } from './redis-label.js';

export { redisLabel };

export interface RedisOutboxOptions extends OutboxDelivery {
  /** `redis://[user:password@]host:port/db`; never logged as is (see `redisLabel`). */
  url: string;
  keyPrefix: string;
  giveUpAfterMs: number;
  log: FastifyBaseLogger;
  /** Deliveries this process runs at once. */
  concurrency?: number;
  /**
   * How long a claimed message belongs to its claimer. Longer than any delivery attempt can take
   * (the hooks' timeouts): a claimer that dies mid-delivery leaves the message due again after it.
   */
  leaseMs?: number;
  /** How often the queue is looked at for messages that became due (and right after `add`). */
  pollIntervalMs?: number;
  /** How long `add` waits for the first connection (at startup); later outages fail it at once. */
  connectTimeoutMs?: number;
}

/** A message as stored in the `messages` hash. */
interface Stored extends OutboxMessage {
  /** Failed delivery attempts so far (for the backoff). */
  attempts: number;
}

/**
 * Claim up to ARGV[3] messages due by ARGV[1]: each one's score becomes the lease's end ARGV[2],
 * so no other instance sees it as due until the lease is over. Returns id, body, id, body...
 * KEYS: queue (sorted set id -> due ms), messages (hash id -> JSON).
 */
const CLAIM = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  local body = redis.call('HGET', KEYS[2], id)
  if body then
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    out[#out + 1] = id
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`;

/**
 * What a claimer does with a message it failed to deliver, only while its lease (ARGV[2]) holds:
 * `retry` stores the updated body ARGV[5] and makes it due at ARGV[4]; `fail` moves it to the
 * failed hash. Returns 0 when the lease is no longer ours (another instance took the message over).
 * KEYS: queue, messages, failed.
 */
const SETTLE = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == 'fail' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[5])
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
end
return 1
`;

interface OutboxCommands {
  outboxClaim(queue: string, messages: string, now: number, leaseUntil: number, limit: number): Promise<string[]>;
  outboxSettle(queue: string, messages: string, failed: string, id: string, lease: number, mode: 'retry' | 'fail', due: number, body: string): Promise<number>;
}

/**
 * The outbox as one queue in Redis, shared by every tusport instance configured with the same URL
 * and key prefix: `<prefix>messages` (hash: id -> message JSON), `<prefix>queue` (sorted set: id
 * scored by when it is next due, ms since the epoch) and `<prefix>failed` (hash of given-up
 * messages). `add` is one MULTI (HSET + ZADD) and resolves once Redis has acknowledged it, which
 * survives a Redis crash only with `appendonly yes` + `appendfsync always` on the Redis side.
 *
 * Any instance delivers any message: a poll claims due messages atomically (a Lua script that
 * moves their score to now + lease), delivers them, then deletes them (HDEL + ZREM) or, while
 * the lease is still its own, reschedules them with the hook's backoff or moves them to `failed`
 * past the give-up age. A claimer that dies mid-delivery leaves its messages due again when the
 * lease ends, so delivery is at least once, as with the disk outbox. Instances' clocks should
 * agree (NTP): due times are their `Date.now()`.
 *
 * When Redis is unreachable, `add` rejects (the caller falls back as for a failing disk), polling
 * pauses, and ioredis reconnects with backoff in the background; the process stays up.
 */
export class RedisOutbox implements Outbox {
  private readonly redis: Redis & OutboxCommands;
  private readonly keys: { queue: string; messages: string; failed: string };
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly where: string;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private pollAgain = false;
  private everReady = false;
  private down = false;
  private closed = false;

  constructor(private readonly options: RedisOutboxOptions) {
    this.where = redisLabel(options.url);
    const { keyPrefix } = options;
    this.keys = { queue: `${keyPrefix}queue`, messages: `${keyPrefix}messages`, failed: `${keyPrefix}failed` };
    this.redis = new Redis(options.url, {
      lazyConnect: true,
      // Fail at once while disconnected instead of queueing: the caller answers its client.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
      commandTimeout: 10_000,
      // Reconnect forever, backing off to 5 s (with jitter, so instances spread out).
      retryStrategy: (times) => Math.min(5_000, 100 * 2 ** Math.min(times, 6)) * (0.5 + Math.random() / 2),
    }) as Redis & OutboxCommands;
    this.redis.defineCommand('outboxClaim', { numberOfKeys: 2, lua: CLAIM });
    this.redis.defineCommand('outboxSettle', { numberOfKeys: 3, lua: SETTLE });
    // Logged once per outage (ioredis reports every failed reconnection attempt).
    const lost = (reason: string) => {
      if (this.down || this.closed) return;
      this.down = true;
      this.options.log.error({ redis: this.where, reason }, 'outbox Redis unreachable; reconnecting in the background');
    };
    this.redis.on('error', (error: Error) => lost(error.message));
    this.redis.on('close', () => {
      if (this.everReady) lost('connection closed');
    });
    this.redis.on('ready', () => {
      if (this.down || !this.everReady) this.options.log.info({ redis: this.where }, 'outbox Redis connected');
      this.everReady = true;
      this.down = false;
      this.pump();
    });
  }

  async add(input: Omit<OutboxMessage, 'createdAt'>): Promise<void> {
    if (this.closed) throw new Error('the outbox is closed');
    await this.connected();
    const message: Stored = { ...input, createdAt: Date.now(), attempts: 0 };
    const id = `${message.createdAt}-${message.event}-${message.uploadId}-${randomBytes(6).toString('hex')}`;
    const results = await this.redis.multi().hset(this.keys.messages, id, JSON.stringify(message)).zadd(this.keys.queue, message.createdAt, id).exec();
    const failure = results?.find(([error]) => error)?.[0];
    if (!results || failure) throw failure ?? new Error('the Redis transaction was discarded');
    this.pump();
  }

  async start(): Promise<void> {
    // Not awaited: a Redis that is down at startup is retried in the background (and logged).
    this.redis.connect().catch(() => undefined);
    this.schedule();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stopping.abort(new Error('tusport is shutting down'));
    await this.polling;
    await Promise.allSettled([...this.running]);
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  async depth(): Promise<number> {
    return this.redis.zcard(this.keys.queue);
  }

  async check(): Promise<void> {
    try {
      await this.redis.ping();
    } catch {
      throw new Error(`Redis at ${this.where} is unreachable`);
    }
  }

  /** Resolves once Redis is connected; at startup waits for the first connection, later fails at once. */
  private async connected(): Promise<void> {
    if (this.redis.status === 'ready') return;
    // Only the very first connection is waited for; once an attempt failed, Redis counts as down.
    if (this.everReady || this.down) throw new Error(`Redis at ${this.where} is unreachable`);
    await new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        clearTimeout(timer);
        this.redis.off('ready', settle);
        this.redis.off('error', settle);
        if (error) reject(new Error(`Redis at ${this.where} is unreachable`));
        else resolve();
      };
      const timer = setTimeout(() => settle(new Error('timeout')), this.options.connectTimeoutMs ?? 5_000);
      this.redis.once('ready', settle);
      this.redis.once('error', settle);
    });
  }

  /** Look for due messages now (coalesced with a poll that is running). */
  private pump(): void {
    if (this.closed) return;
    if (this.polling) {
      this.pollAgain = true;
      return;
    }
    this.polling = this.poll().finally(() => {
      this.polling = undefined;
      if (this.pollAgain) {
        this.pollAgain = false;
        this.pump();
      } else this.schedule();
    });
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.pump(), this.options.pollIntervalMs ?? 500);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    const free = (this.options.concurrency ?? 8) - this.running.size;
    if (free <= 0 || this.redis.status !== 'ready') return;
    const now = Date.now();
    // A fraction makes the lease score this claim's own, should another claim land in the same ms.
    const lease = now + (this.options.leaseMs ?? 60_000) + Math.random();
    let claimed: string[];
    try {
      claimed = await this.redis.outboxClaim(this.keys.queue, this.keys.messages, now, lease, free);
    } catch (error) {
      if (!this.down) this.options.log.error({ redis: this.where, reason: (error as Error).message }, 'outbox poll failed');
      return;
    }
    for (let i = 0; i + 1 < claimed.length; i += 2) this.attempt(claimed[i]!, claimed[i + 1]!, lease);
  }

  private attempt(id: string, body: string, lease: number): void {
    const work = this.deliver(id, body, lease)
      .catch((error: unknown) => {
        // Redis failed while settling: the lease runs out and the message is tried again.
        this.options.log.error({ redis: this.where, reason: (error as Error).message, message: id }, 'outbox error');
      })
      .finally(() => {
        this.running.delete(work);
        this.pump();
      });
    this.running.add(work);
  }

  private async deliver(id: string, body: string, lease: number): Promise<void> {
    const { log } = this.options;
    const message = parse(body);
    if (!message) {
      log.error({ message: id }, 'unreadable outbox message; moved to the failed hash');
      await this.settle(id, lease, 'fail', 0, body);
      return;
    }
    const fields = { uploadId: message.uploadId, event: message.event, hook: this.options.label(message.hook), attempt: message.attempts + 1 };
    const expired = Date.now() - message.createdAt >= this.options.giveUpAfterMs;
    if (!this.options.knows(message.hook)) {
      // Instances sharing the queue may run different configs for a while (a rolling deploy):
      // leave it to one that knows the hook, until the give-up age.
      if (expired) {
        log.error(fields, 'hook notification given up: its hook is not configured here and it is older than outbox.giveUpAfter; moved to the failed hash');
        await this.settle(id, lease, 'fail', 0, JSON.stringify({ ...message, failedAt: Date.now(), reason: 'unknown hook' }));
      } else {
        log.warn(fields, 'outbox message for a hook not configured in this instance; left for another');
        await this.settle(id, lease, 'retry', Date.now() + (this.options.leaseMs ?? 60_000), body);
      }
      return;
    }
    const attempts = message.attempts + 1;
    try {
      await this.options.deliver(message, attempts, this.stopping.signal);
    } catch (error) {
      if (this.closed) {
        // Shutting down mid-delivery: hand the message back at once rather than after the lease.
        if (this.redis.status === 'ready') await this.settle(id, lease, 'retry', Date.now(), body);
        return;
      }
      const reason = error instanceof Error ? error.message : String(error);
      const stored = JSON.stringify({ ...message, attempts });
      if (Date.now() - message.createdAt >= this.options.giveUpAfterMs) {
        log.error({ ...fields, reason }, 'hook notification given up: undelivered for longer than outbox.giveUpAfter; moved to the failed hash');
        await this.settle(id, lease, 'fail', 0, JSON.stringify({ ...message, attempts, failedAt: Date.now(), reason }));
        return;
      }
      const delay = this.options.retryDelay(message.hook, attempts);
      log.warn({ ...fields, reason, retryInMs: Math.round(delay) }, 'hook notification failed; will retry');
      await this.settle(id, lease, 'retry', Date.now() + delay, stored);
      return;
    }
    await this.redis.multi().hdel(this.keys.messages, id).zrem(this.keys.queue, id).exec();
    log.info(fields, 'hook notification delivered');
  }

  private async settle(id: string, lease: number, mode: 'retry' | 'fail', due: number, body: string): Promise<void> {
    const { queue, messages, failed } = this.keys;
    const ours = await this.redis.outboxSettle(queue, messages, failed, id, lease, mode, due, body);
    if (ours === 0) this.options.log.warn({ message: id }, 'outbox lease ran out before the attempt ended; another instance has the message');
  }
}

function parse(body: string): Stored | undefined {
  try {
    const parsed = JSON.parse(body) as Stored;
    if (typeof parsed.body === 'string' && typeof parsed.hook === 'string' && typeof parsed.createdAt === 'number') {
      return { ...parsed, attempts: typeof parsed.attempts === 'number' ? parsed.attempts : 0 };
    }
  } catch {
    // fall through
  }
  return undefined;
}
