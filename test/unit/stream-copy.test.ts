import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { copyWithLimit } from '../../src/stores/stream-copy.js';

/** A sink that holds every write until `release()`, so the copy must pause its source (backpressure). */
function gatedSink(received: Buffer[]): { sink: Writable; release: () => void } {
  let open = false;
  const waiting: (() => void)[] = [];
  const sink = new Writable({
    highWaterMark: 64,
    write(chunk: Buffer, _encoding, done) {
      received.push(chunk);
      if (open) done();
      else waiting.push(done);
    },
  });
  return {
    sink,
    release: () => {
      open = true;
      for (const done of waiting.splice(0)) done();
    },
  };
}

describe('copyWithLimit', () => {
  it('a request aborted while bytes wait in its buffer hands each of them to the sink once, in order', async () => {
    const source = new PassThrough();
    // node:http's IncomingMessage does not emit the error of its destroy when nobody listens; a PassThrough would.
    source.on('error', () => undefined);
    const received: Buffer[] = [];
    const sent = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
    const { sink, release } = gatedSink(received);
    const copying = copyWithLimit(source, sink, Number.MAX_SAFE_INTEGER);
    for (let i = 0; i < 10; i++) source.write(sent.subarray(i * 100, (i + 1) * 100));
    // The first chunk fills the sink: the copy pauses the source with the other nine still buffered.
    while (!source.isPaused()) await new Promise((resolve) => setImmediate(resolve));
    expect(source.readableLength).toBeGreaterThan(0);
    // What node:http does when the client's connection drops: 'aborted' first, then destroy.
    source.emit('aborted');
    source.destroy(new Error('client gone'));
    release();
    const outcome = await copying;
    const written = Buffer.concat(received);
    expect(outcome).toMatchObject({ kind: 'interrupted', bytes: sent.length });
    expect(written.equals(sent)).toBe(true);
  });
});
