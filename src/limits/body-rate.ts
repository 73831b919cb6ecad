import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';

export interface BodyRate {
  /** Bytes a body must bring per window; 0: no check. */
  bytes: number;
  /** Milliseconds. */
  window: number;
}

interface Watched {
  request: IncomingMessage;
  log: FastifyBaseLogger;
  /** Where the current window began: the socket's bytesRead then, and when. */
  bytes: number;
  since: number;
}

/**
 * The slowest request body tusport waits for. `idleTimeout` only catches silence: a body trickled
 * a byte every few seconds held its socket, the upload's lock and (before the disk store opened
 * files lazily) a file descriptor forever. Each PATCH/POST body is watched from its headers to
 * its last byte; one that brings fewer than `rate.bytes` in a `rate.window` has its connection
 * closed. The request's handler then sees its client gone: the bytes that did arrive are kept
 * (fsynced), the lock released, and tus clients resume from the offset.
 *
 * A window in which the server is the slow side never counts against the client: whenever bytes
 * wait unread in the request (the disk is behind, a lock or hook is pending, the store applies
 * backpressure), the window starts again. Bytes are read off the socket (`bytesRead`), so no
 * listener is added to the body stream and every body path is covered.
 *
 * This lives in the request path, not the server, so it also holds when tusport is embedded.
 */
export function watchBodyRate(app: FastifyInstance, rate: BodyRate): void {
  if (rate.bytes <= 0) return;
  const watched = new Set<Watched>();
  // One timer for every watched body: thousands of slow clients cost one tick, not thousands.
  const tickMs = Math.min(1000, Math.max(100, Math.floor(rate.window / 4)));
  let timer: NodeJS.Timeout | undefined;

  const tick = () => {
    const now = Date.now();
    for (const entry of watched) {
      const { request } = entry;
      const socket = request.socket;
      if (request.complete || request.destroyed || !socket || socket.destroyed) {
        watched.delete(entry);
        continue;
      }
      if (request.readableLength > 0) {
        // Bytes wait for us: the server is the slow side. Start the window again.
        entry.bytes = socket.bytesRead;
        entry.since = now;
        continue;
      }
      if (now - entry.since < rate.window) continue;
      const received = socket.bytesRead - entry.bytes;
      if (received >= rate.bytes) {
        entry.bytes = socket.bytesRead;
        entry.since = now;
        continue;
      }
      watched.delete(entry);
      entry.log.warn(
        { remoteAddress: socket.remoteAddress, received, windowMs: rate.window, minimumBytes: rate.bytes },
        `request body too slow: ${received} bytes in ${rate.window} ms (server.minBodyRate asks for ${rate.bytes}); connection closed, the bytes received are kept`,
      );
      socket.destroy();
    }
    if (watched.size === 0 && timer) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  app.addHook('onRequest', async (request) => {
    const raw = request.raw;
    if (raw.method !== 'PATCH' && raw.method !== 'POST') return;
    const hasBody = raw.headers['transfer-encoding'] !== undefined || Number(raw.headers['content-length'] ?? 0) > 0;
    if (!hasBody || raw.complete || !raw.socket) return;
    watched.add({ request: raw, log: request.log, bytes: raw.socket.bytesRead, since: Date.now() });
    if (!timer) {
      timer = setInterval(tick, tickMs);
      timer.unref();
    }
  });
  app.addHook('onClose', async () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    watched.clear();
  });
}
