import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { syncDirectory } from '../stores/sidecar.js';
import { checkWritableDirectory } from '../stores/writable-directory.js';
import type { HookEventName } from './events.js';

/** One notification for one hook, as it waits to be delivered. */
export interface OutboxMessage {
  /** The hook's stable id (see HookBinding.id). */
  hook: string;
  event: HookEventName;
  uploadId: string;
  idempotencyKey: string;
  /** The JSON body, exactly as it will be sent. */
  body: string;
  /** When the event happened (ms since the epoch): the give-up age counts from here. */
  createdAt: number;
}

/**
 * Where notifications wait until their hook has them. `add` resolves only once the message would
 * survive a crash; delivery then runs in the background until it succeeds or the message is older
 * than the give-up age. The disk implementation is below; one on S3 or Redis (for endpoints shared
 * by several processes) implements the same interface.
 */
export interface Outbox {
  add(message: Omit<OutboxMessage, 'createdAt'>): Promise<void>;
  /** Pick up what an earlier run left (call once, at startup). */
  start(): Promise<void>;
  /** Stop delivering; undelivered messages stay for the next start. */
  close(): Promise<void>;
  /** Messages waiting for delivery (for the metrics). */
  depth(): Promise<number>;
  /** Throw (with a message naming what is wrong) unless new messages can be added (for /readyz). */
  check(): Promise<void>;
}

export interface OutboxDelivery {
  /** Deliver once; rejects when the hook did not take it. */
  deliver(message: OutboxMessage, attempt: number, signal: AbortSignal): Promise<void>;
  /** Delay before attempt `attempt + 1` of a message for this hook, after `attempt` failed ones. */
  retryDelay(hookId: string, attempt: number): number;
  /** Whether the config still has this hook (messages for vanished hooks are set aside). */
  knows(hookId: string): boolean;
  /** How logs call a hook. */
  label(hookId: string): string;
}

export interface DiskOutboxOptions extends OutboxDelivery {
  directory: string;
  giveUpAfterMs: number;
  log: FastifyBaseLogger;
  /** Deliveries running at once. */
  concurrency?: number;
}

interface Pending {
  file: string;
  uploadId: string;
  event: HookEventName;
  hook: string;
  createdAt: number;
  attempts: number;
  due: number;
  running: boolean;
}

const MESSAGE_FILE = /^\d+-[a-z-]+-[A-Za-z0-9_-]+-[0-9a-f]{12}\.json$/;

/**
 * A directory with one JSON file per undelivered message, written like sidecars (temp file, fsync,
 * rename, fsync of the directory) before `add` resolves, and removed once delivered. Only the
 * schedule is kept in memory (bodies are read back per attempt), so a receiver that is down for a
 * day costs disk, not memory. Given-up messages move to `failed/` for an operator to look at.
 * One process per directory: two processes sharing one would both deliver every message.
 */
export class DiskOutbox implements Outbox {
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private ready: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: DiskOutboxOptions) {}

  private ensureDirectory(): Promise<void> {
    this.ready ??= fs.mkdir(this.options.directory, { recursive: true, mode: 0o750 }).then(() => undefined);
    return this.ready;
  }

  async add(input: Omit<OutboxMessage, 'createdAt'>): Promise<void> {
    const message: OutboxMessage = { ...input, createdAt: Date.now() };
    await this.ensureDirectory();
    const name = `${message.createdAt}-${message.event}-${message.uploadId}-${randomBytes(6).toString('hex')}.json`;
    const file = path.join(this.options.directory, name);
    const temp = `${file}.tmp`;
    const handle = await fs.open(temp, 'wx', 0o640);
    try {
      await handle.writeFile(JSON.stringify(message));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temp, file);
    await syncDirectory(this.options.directory);
    this.track(name, message, 0);
    this.pump();
  }

  async start(): Promise<void> {
    let names: string[];
    try {
      names = await fs.readdir(this.options.directory);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    let found = 0;
    for (const name of names) {
      const file = path.join(this.options.directory, name);
      // A temp file is a message whose request was never answered: nobody was promised it.
      if (name.endsWith('.tmp')) await fs.rm(file, { force: true });
      if (!MESSAGE_FILE.test(name) || this.pending.has(name)) continue;
      const message = await this.read(name);
      if (!message) continue;
      if (!this.options.knows(message.hook)) {
        this.options.log.warn({ uploadId: message.uploadId, event: message.event, file: name }, 'outbox message for a hook no longer configured; set aside in failed/');
        await this.setAside(name);
        continue;
      }
      this.track(name, message, 0);
      found += 1;
    }
    if (found > 0) this.options.log.info({ count: found, directory: this.options.directory }, 'undelivered hook notifications found; delivering');
    this.pump();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.stopping.abort(new Error('tusport is shutting down'));
    await Promise.allSettled([...this.running]);
  }

  async depth(): Promise<number> {
    return this.pending.size;
  }

  check(): Promise<void> {
    return checkWritableDirectory(this.options.directory);
  }

  private track(name: string, message: OutboxMessage, due: number): void {
    if (this.closed) return;
    const { uploadId, event, hook, createdAt } = message;
    this.pending.set(name, { file: name, uploadId, event, hook, createdAt, attempts: 0, due, running: false });
  }

  /** Start what is due (up to the concurrency), and wake up again when the next one is. */
  private pump(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.pending.values()) {
      if (entry.running) continue;
      // Due but no free slot: the delivery that frees one pumps again.
      if (entry.due > now) next = Math.min(next, entry.due);
      else if (this.running.size < (this.options.concurrency ?? 8)) this.attempt(entry);
    }
    if (next !== Number.POSITIVE_INFINITY) {
      this.timer = setTimeout(() => this.pump(), Math.max(0, next - now));
      this.timer.unref();
    }
  }

  private attempt(entry: Pending): void {
    entry.running = true;
    entry.attempts += 1;
    const work = this.deliver(entry)
      .catch((error: unknown) => {
        this.options.log.error({ err: error, uploadId: entry.uploadId, event: entry.event }, 'outbox error');
        entry.due = Date.now() + this.options.retryDelay(entry.hook, entry.attempts);
      })
      .finally(() => {
        entry.running = false;
        this.running.delete(work);
        this.pump();
      });
    this.running.add(work);
  }

  private async deliver(entry: Pending): Promise<void> {
    const { log } = this.options;
    const fields = { uploadId: entry.uploadId, event: entry.event, hook: this.options.label(entry.hook), attempt: entry.attempts };
    const message = await this.read(entry.file);
    if (!message) {
      this.pending.delete(entry.file);
      return;
    }
    try {
      await this.options.deliver(message, entry.attempts, this.stopping.signal);
    } catch (error) {
      if (this.closed) return;
      const reason = error instanceof Error ? error.message : String(error);
      if (Date.now() - entry.createdAt >= this.options.giveUpAfterMs) {
        log.error({ ...fields, reason }, 'hook notification given up: undelivered for longer than outbox.giveUpAfter; set aside in failed/');
        this.pending.delete(entry.file);
        await this.setAside(entry.file);
        return;
      }
      const delay = this.options.retryDelay(entry.hook, entry.attempts);
      entry.due = Date.now() + delay;
      log.warn({ ...fields, reason, retryInMs: Math.round(delay) }, 'hook notification failed; will retry');
      return;
    }
    this.pending.delete(entry.file);
    await fs.rm(path.join(this.options.directory, entry.file), { force: true });
    log.info(fields, 'hook notification delivered');
  }

  private async read(name: string): Promise<OutboxMessage | undefined> {
    try {
      const parsed = JSON.parse(await fs.readFile(path.join(this.options.directory, name), 'utf8')) as OutboxMessage;
      if (typeof parsed.body === 'string' && typeof parsed.hook === 'string' && typeof parsed.createdAt === 'number') return parsed;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    }
    this.options.log.error({ file: name }, 'unreadable outbox message; set aside in failed/');
    await this.setAside(name);
    return undefined;
  }

  private async setAside(name: string): Promise<void> {
    const failed = path.join(this.options.directory, 'failed');
    await fs.mkdir(failed, { recursive: true, mode: 0o750 });
    await fs.rename(path.join(this.options.directory, name), path.join(failed, name)).catch(() => undefined);
  }
}
