import type { Readable, Writable } from 'node:stream';
import { bodyBytesCopied } from './body-garbage.js';

export type CopyOutcome =
  /** The source ended normally. */
  | { kind: 'complete'; bytes: number }
  /** The source had more than `limit` bytes; exactly `limit` were copied, the rest left unread. */
  | { kind: 'limit'; bytes: number }
  /** The source failed or was stopped (client gone, lock handed over); what arrived was copied. */
  | { kind: 'interrupted'; bytes: number; reason: unknown };

/**
 * Copy `source` into `sink` with at most `limit` bytes, then end the sink gracefully so every
 * byte that did arrive reaches storage. Unlike `stream.pipeline`, a failing or over-long source
 * does not destroy the sink (which would drop bytes still buffered in it) and is not destroyed
 * itself (so the HTTP response can still be sent). This is the hot path of every PATCH: it moves
 * Buffers straight from the socket to the sink with backpressure, and nothing else.
 *
 * Resolves once the sink has closed (its data is durable if the sink flushes on close);
 * rejects only when the sink itself fails. `tap` sees exactly the bytes handed to the sink, in
 * order, as they pass (a checksum computed while the bytes stream).
 */
export function copyWithLimit(source: Readable, sink: Writable, limit: number, stop?: AbortSignal, tap?: (chunk: Buffer) => void): Promise<CopyOutcome> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let outcome: CopyOutcome | undefined;

    const finish = (result: CopyOutcome) => {
      if (outcome) return;
      outcome = result;
      detach();
      sink.end();
    };
    /** Copy one chunk; false once the limit is reached (the copy is then finished). */
    const take = (chunk: Buffer): boolean => {
      if (bytes + chunk.length > limit) {
        const room = limit - bytes;
        if (room > 0) {
          const head = chunk.subarray(0, room);
          tap?.(head);
          sink.write(head);
        }
        bytes = limit;
        finish({ kind: 'limit', bytes });
        return false;
      }
      bytes += chunk.length;
      bodyBytesCopied(chunk.length);
      tap?.(chunk);
      if (!sink.write(chunk)) source.pause();
      return true;
    };
    const onData = (chunk: Buffer) => {
      take(chunk);
    };
    const onDrain = () => {
      if (!outcome) source.resume();
    };
    const onEnd = () => finish({ kind: 'complete', bytes });
    const onSourceError = (reason: unknown) => {
      if (outcome) return;
      // read() also emits 'data' for the chunk it returns: without this, each buffered chunk would
      // be taken twice (once here, once by onData) and the sink would get bytes twice, out of order.
      source.off('data', onData);
      // Bytes that reached us but still sit in the source's buffer (paused for backpressure, or a
      // client gone before the copy began) were received: keep them too. A destroyed source
      // emits no more 'data', but read() still hands over what it holds.
      while (source.readableLength > 0) {
        const chunk = source.read() as Buffer | null;
        if (chunk === null || !take(chunk)) break;
      }
      finish({ kind: 'interrupted', bytes, reason });
    };
    const onAborted = () => onSourceError(new Error('client aborted the request'));
    const onClose = () => onSourceError(new Error('request closed before its body ended'));
    const onStop = () => onSourceError(stop?.reason ?? new Error('stopped'));

    function detach() {
      source.off('data', onData);
      source.off('end', onEnd);
      source.off('error', onSourceError);
      source.off('aborted', onAborted);
      source.off('close', onClose);
      sink.off('drain', onDrain);
      stop?.removeEventListener('abort', onStop);
      // Leave the source paused: what remains of the body is not ours to read any more.
      source.pause();
    }

    sink.on('drain', onDrain);
    sink.once('error', (error) => {
      detach();
      reject(error);
    });
    sink.once('close', () => {
      if (outcome) resolve(outcome);
    });
    source.on('data', onData);
    source.once('end', onEnd);
    source.once('error', onSourceError);
    source.once('aborted', onAborted);
    // A request whose socket dies can emit 'close' without 'end' or 'error'.
    source.once('close', onClose);
    if (stop) {
      if (stop.aborted) onStop();
      else stop.addEventListener('abort', onStop, { once: true });
    }
    if (source.readableEnded) onEnd();
    // A client that sent its bytes and vanished while the request waited for its lock: its
    // 'close' is long past and would never come again; without this the copy (and the lock it
    // runs under) would wait until another request for the upload forced a hand-over.
    else if (source.destroyed) onSourceError(source.errored ?? new Error('request closed before its body ended'));
    else source.resume();
  });
}
