import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply } from 'fastify';

/**
 * How long a connection answered early may go on bringing the body it had started. Enough for a
 * client whose event loop is busy (a loaded CI machine, a browser tab) to read an answer already
 * in its kernel buffer; nginx waits 5 s between reads (`lingering_timeout`), 30 s in all
 * (`lingering_time`). 5 s in all, because a lingering socket still holds one of the client's
 * `maxConnectionsPerClient` slots, and because it is far below what `idleTimeout` (60 s) and
 * `server.minBodyRate` (a 60 s window) let any connection hold: lingering never keeps a socket
 * longer than those allow (they still apply, and close it first when set lower).
 */
export const LINGER_MS = 5_000;
/**
 * Body bytes read and thrown away while lingering; past them reading stops and the client's
 * writes wait on a full TCP window (no reset either) until `LINGER_MS` is up. A client that reads
 * its answer while sending (tus-js-client, curl, browsers) has it long before, even over a fast
 * link; this only caps the bandwidth and parsing a refused body costs (4 MiB takes 0.3 s at
 * 100 Mbit/s; a slower link runs into the time bound first).
 */
export const LINGER_BYTES = 4 * 1024 * 1024;

const ARMED = Symbol('tusport.linger');
type ArmedSocket = Socket & { [ARMED]?: true };

/**
 * Close the connection after this answer, lingering while the client still sends the body.
 *
 * Every early refusal (413 before reading a chunk over maxChunkSize, a body past Upload-Length, a
 * quota, a cut body) answers with `Connection: close`, and Node then closes the socket as soon as
 * the answer is written. Bytes of the body the client is still sending then reach a closed socket,
 * the kernel answers them with a reset, and the client often sees ECONNRESET/EPIPE before it reads
 * the answer: a tus client reports "connection closed" and retries instead of showing the 413.
 *
 * Instead, once the answer is written: half-close (FIN, the client reads the answer and then the
 * end of the stream), read and discard what still arrives, and close when the client ends its
 * side, or after `LINGER_MS` / `LINGER_BYTES`, the "lingering close" of nginx and Apache.
 */
export function closeAfterAnswer(reply: FastifyReply): void {
  reply.header('Connection', 'close');
  armLinger(reply.request.raw);
}

function armLinger(request: IncomingMessage): void {
  const socket = request.socket as ArmedSocket | null;
  if (!socket || socket[ARMED]) return;
  socket[ARMED] = true;
  // Node ends a `Connection: close` response with socket.destroySoon(): end, and destroy the
  // socket once the answer is flushed, whatever the client is still sending. Replaced on this
  // socket only; with nothing left unread, Node's own close is right.
  const destroySoon = socket.destroySoon.bind(socket);
  socket.destroySoon = () => {
    if (request.complete || !socket.readable) destroySoon();
    else linger(socket);
  };
}

function linger(socket: Socket): void {
  socket.on('error', () => undefined);
  // The client has sent all it meant to (its FIN): nothing is left unread, close cleanly now;
  // first, so Node's end handler does not report the unfinished body as a client error.
  socket.prependListener('end', () => socket.destroy());
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.end();
  const start = socket.bytesRead;
  // Node's HTTP parser reads this socket's handle directly, and stopped reading it when the
  // unread body filled the request's buffer. Resuming lets Node start the handle again (its
  // 'resume' listener, run on the next tick); only then is the socket taken over.
  socket.resume();
  setImmediate(() => {
    if (socket.destroyed) return;
    // The HTTP exchange on this connection is over: what follows is body bytes to throw away,
    // not requests, so Node's parser is fed no more (from here on, nothing pipelined behind the
    // refused body is parsed or run). Listening for 'data' hands the bytes back from the parser.
    socket.removeAllListeners('data');
    socket.on('data', () => {
      if (socket.bytesRead - start >= LINGER_BYTES) socket.pause();
    });
    socket.resume();
  });
}
