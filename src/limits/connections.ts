import type { Socket } from 'node:net';
import { compile } from '@fastify/proxy-addr';
import type { FastifyInstance } from 'fastify';
import { LimitErrors } from './errors.js';

export interface ConnectionLimits {
  maxConnections: number;
  maxConnectionsPerClient: number;
  /** `server.trustProxy`: these addresses carry many clients and are exempt from the per-client cap. */
  trustProxy: string[];
  /**
   * `server.headersTimeout`. Node's own headers timeout starts with a request's first byte; a
   * connection that never sends one is closed after this long too (not only after idleTimeout).
   */
  headersTimeout: number;
}

/** Paths served on the reserve when every regular slot is taken: monitoring must see the truth. */
const RESERVED_PATHS = new Set(['/healthz', '/readyz']);
/** Connections past `maxConnections` that may still ask for a reserved path. */
export const RESERVE_CONNECTIONS = 16;
/** A reserve connection must have sent its whole request within this long. */
const RESERVE_DEADLINE_MS = 2000;
/** How long a refused connection may linger to read its answer before it is destroyed. */
const REFUSED_LINGER_MS = 1000;
/** Refused connections lingering at once, at most: under a flood they are destroyed at once. */
const MAX_LINGERING = 64;
export const RETRY_AFTER_SECONDS = 5;
const OVERFLOW = Symbol('tusport.overflowConnection');

type OverflowSocket = Socket & { [OVERFLOW]?: boolean };

/**
 * Caps on open connections, total and per client address, enforced when a socket is accepted.
 * A connection over a cap is answered as soon as its first bytes arrive (503, Retry-After,
 * tusport's JSON error) and closed, without Node's HTTP parser ever seeing it, so it costs
 * neither a parser nor a request; at most 64 such answers are pending at once (past that a
 * refused connection is closed unanswered), and the process never reaches the open-file limit
 * (where everything, /healthz included, failed with EMFILE). Past `maxConnections` a small reserve still serves /healthz and /readyz (and
 * answers 503 to anything else), so a load balancer sees an overloaded instance, not a dead one.
 *
 * Counting is per socket address: behind a proxy every connection comes from the proxy, so
 * connections from `trustProxy` addresses are exempt from the per-client cap (the proxy must
 * limit per client, e.g. nginx `limit_conn`); they still count towards `maxConnections`.
 */
export function limitConnections(app: FastifyInstance, limits: ConnectionLimits): void {
  const server = app.server;
  const isProxy = limits.trustProxy.length > 0 ? compile(limits.trustProxy) : () => false;
  const accept = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const perAddress = new Map<string, number>();
  let open = 0;
  let lingering = 0;

  const log = refusalLog(app);
  const refuse = (socket: Socket, reason: string) => {
    log(socket.remoteAddress, reason);
    socket.on('error', () => undefined);
    if (lingering >= MAX_LINGERING) {
      socket.destroy();
      return;
    }
    // Answer once the request line is in (a HEAD gets no body), read and drop the rest so that
    // closing does not reset the connection before the client has read the answer.
    lingering++;
    socket.once('data', (first: Buffer) => {
      socket.end(first.subarray(0, 5).toString('latin1') === 'HEAD ' ? REFUSAL_HEAD : REFUSAL);
    });
    const timer = setTimeout(() => socket.destroy(), REFUSED_LINGER_MS);
    timer.unref();
    socket.once('close', () => {
      lingering--;
      clearTimeout(timer);
    });
  };

  server.on('connection', (socket: OverflowSocket) => {
    const address = socket.remoteAddress ?? '';
    const fromClient = !isProxy(address, 0);
    const mine = perAddress.get(address) ?? 0;
    if (fromClient && mine >= limits.maxConnectionsPerClient) return refuse(socket, `server.maxConnectionsPerClient (${limits.maxConnectionsPerClient}) reached for ${address}`);
    if (open >= limits.maxConnections + RESERVE_CONNECTIONS) return refuse(socket, `server.maxConnections (${limits.maxConnections}) reached`);
    open++;
    perAddress.set(address, mine + 1);
    // Silent from the start: Node's headers timeout never starts, so close it here.
    let deadline: NodeJS.Timeout | undefined = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, limits.headersTimeout);
    deadline.unref();
    socket.once('close', () => {
      open--;
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left > 0) perAddress.set(address, left);
      else perAddress.delete(address);
      clearTimeout(deadline);
    });
    if (open > limits.maxConnections) {
      socket[OVERFLOW] = true;
      clearTimeout(deadline);
      deadline = setTimeout(() => socket.destroy(), RESERVE_DEADLINE_MS);
      deadline.unref();
    }
    for (const listener of accept) listener.call(server, socket);
  });

  app.addHook('onRequest', async (request, reply) => {
    if (!(request.raw.socket as OverflowSocket | undefined)?.[OVERFLOW]) return;
    reply.header('Connection', 'close');
    if (request.method === 'GET' && RESERVED_PATHS.has(request.url.split('?')[0] ?? '')) return;
    request.log.warn({ limit: limits.maxConnections }, 'request refused: server.maxConnections reached (only health checks are served past it)');
    reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
    throw new LimitErrors.TOO_MANY_CONNECTIONS(RETRY_AFTER_SECONDS);
  });
}

const REFUSAL_ERROR = new LimitErrors.TOO_MANY_CONNECTIONS(RETRY_AFTER_SECONDS);
const REFUSAL_JSON = JSON.stringify({ statusCode: 503, code: REFUSAL_ERROR.code, error: 'Service Unavailable', message: REFUSAL_ERROR.message });
/** The whole answer to a refused connection, written after its first bytes, never parsed. */
const REFUSAL_HEAD = [
  'HTTP/1.1 503 Service Unavailable',
  `Retry-After: ${RETRY_AFTER_SECONDS}`,
  'Content-Type: application/json; charset=utf-8',
  `Content-Length: ${Buffer.byteLength(REFUSAL_JSON)}`,
  'Tus-Resumable: 1.0.0',
  'Connection: close',
  '',
  '',
].join('\r\n');
const REFUSAL = REFUSAL_HEAD + REFUSAL_JSON;

/** Under a flood, one log line a second says how many connections were refused and why. */
function refusalLog(app: FastifyInstance): (address: string | undefined, reason: string) => void {
  let refused = 0;
  let last = '';
  let timer: NodeJS.Timeout | undefined;
  return (address, reason) => {
    refused++;
    last = reason;
    if (timer) return;
    app.log.warn({ remoteAddress: address }, `connection refused (503): ${reason}`);
    refused = 0;
    timer = setTimeout(() => {
      timer = undefined;
      if (refused > 0) app.log.warn({ refused }, `${refused} more connections refused (503) in the last second; the last one: ${last}`);
    }, 1000);
    timer.unref();
  };
}
