import fs from 'node:fs';
import { Writable } from 'node:stream';
import type { WriteFence } from '../coordination/fence.js';
import type { OnSync } from './durability.js';

/** A PATCH body that sends nothing for this long gives its file descriptor back (fsynced first). */
export const IDLE_CLOSE_MS = 1000;

/**
 * Writes one request body into an existing file at `start`, holding a file descriptor only while
 * bytes flow: the file is opened on the first chunk, fsynced and closed once no chunk has come for
 * `idleCloseMs`, and opened again when the next one arrives. `fs.createWriteStream` opens at once
 * and holds the descriptor until the body ends: a few hundred clients trickling bytes (or sending
 * nothing within the idle timeout) held as many descriptors, and under `ulimit -n 1024` the
 * process ran out for everyone (EMFILE on /healthz and new uploads).
 *
 * Like `createWriteStream(..., { flush: true })`, ending the sink fsyncs before closing, so the
 * caller acknowledges only bytes that are durable (unless `sync: false`: the store's `sync: none`). Writes are positional (`pwritev`), so reopening
 * needs no seek and a partial write continues where it stopped.
 */
export class LazyFileSink extends Writable {
  private fd: number | undefined;
  private position: number;
  private idleTimer: NodeJS.Timeout | undefined;
  /** An idle close under way: a write that comes meanwhile waits for it, then reopens. */
  private closing: Promise<void> | undefined;
  /** An idle close's fsync failed: the next write or the end fails with it (nothing is acknowledged). */
  private failure: Error | undefined;

  constructor(
    private readonly file: string,
    start: number,
    options: { highWaterMark: number; idleCloseMs?: number; fence?: WriteFence | undefined; sync?: boolean; onSync?: OnSync | undefined },
  ) {
    super({ highWaterMark: options.highWaterMark });
    this.position = start;
    this.fence = options.fence;
    this.idleCloseMs = options.idleCloseMs ?? IDLE_CLOSE_MS;
    this.sync = options.sync ?? true;
    this.onSync = options.onSync;
  }

  private readonly idleCloseMs: number;
  private readonly fence: WriteFence | undefined;
  private readonly sync: boolean;
  private readonly onSync: OnSync | undefined;

  /** Whether a descriptor is open right now (tests and metrics). */
  get open(): boolean {
    return this.fd !== undefined;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.writeBuffers([chunk]).then(() => callback(), callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.writeBuffers(chunks.map(({ chunk }) => chunk)).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.stopIdleTimer();
    this.syncAndClose().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.stopIdleTimer();
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) return callback(error);
    fs.close(fd, () => callback(error));
  }

  private async writeBuffers(buffers: Buffer[]): Promise<void> {
    this.stopIdleTimer();
    if (this.closing) await this.closing.catch(() => undefined);
    if (this.failure) throw this.failure;
    this.fd ??= await openFile(this.file);
    let pending = buffers;
    while (pending.length > 0) {
      // Right before each write: a lock holder whose lease lapsed must not write over the bytes of
      // the request that holds it now (the sink then fails, and nothing more is acknowledged).
      this.fence?.assertHeld();
      const written = await writev(this.fd, pending, this.position);
      this.position += written;
      pending = rest(pending, written);
    }
    this.startIdleTimer();
  }

  private startIdleTimer(): void {
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => {
        this.closing = this.syncAndClose().finally(() => {
          this.closing = undefined;
        });
        this.closing.catch((error: unknown) => {
          this.failure ??= error as Error;
        });
      }, this.idleCloseMs);
      this.idleTimer.unref();
    }
  }

  private stopIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private async syncAndClose(): Promise<void> {
    if (this.closing) await this.closing.catch(() => undefined);
    if (this.failure) throw this.failure;
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    try {
      if (this.sync) await fsyncTimed(fd, this.onSync);
    } finally {
      await new Promise<void>((resolve) => fs.close(fd, () => resolve()));
    }
  }
}

function openFile(file: string): Promise<number> {
  // O_NOFOLLOW: a symlink put where the data file was never leads a write out of the store.
  return new Promise((resolve, reject) => fs.open(file, fs.constants.O_RDWR | fs.constants.O_NOFOLLOW, (error, fd) => (error ? reject(error) : resolve(fd))));
}

function fsyncTimed(fd: number, onSync: OnSync | undefined): Promise<void> {
  const started = onSync && process.hrtime.bigint();
  return new Promise((resolve, reject) =>
    fs.fsync(fd, (error) => {
      if (onSync) onSync(Number(process.hrtime.bigint() - started!) / 1e9, error !== null);
      if (error) reject(error);
      else resolve();
    }),
  );
}

function writev(fd: number, buffers: Buffer[], position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.writev(fd, buffers, position, (error, written) => (error ? reject(error) : resolve(written))));
}

/** What is left of `buffers` after the first `written` bytes. */
function rest(buffers: Buffer[], written: number): Buffer[] {
  let skip = written;
  let index = 0;
  while (index < buffers.length && skip >= buffers[index]!.length) skip -= buffers[index++]!.length;
  if (index === buffers.length) return [];
  return [buffers[index]!.subarray(skip), ...buffers.slice(index + 1)];
}
