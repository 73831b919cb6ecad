import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { enableEarlyCollection } from '../../src/stores/body-garbage.js';
import { copyWithLimit } from '../../src/stores/stream-copy.js';

// Request bodies arrive as 64 KiB chunks, each its own ArrayBuffer outside the JS heap; once the
// store has written them they are garbage. V8 left ~32 MB of them before it collected, a third of
// tusport's peak RSS for a large upload; the copy now has them collected every 4 MiB.
describe('spent body chunks', () => {
  it('never pile up beyond a few MiB while 256 MiB of 64 KiB chunks are copied', async () => {
    enableEarlyCollection(); // what `tusport serve` does
    const chunk = 64 * 1024;
    let left = 4096;
    const source = new Readable({
      read() {
        // A fresh ArrayBuffer per chunk, as the socket gives (allocUnsafeSlow: never pooled).
        this.push(left-- > 0 ? Buffer.allocUnsafeSlow(chunk).fill(1) : null);
      },
    });
    let most = 0;
    const sink = new Writable({
      write(_data: Buffer, _encoding, done) {
        most = Math.max(most, process.memoryUsage().arrayBuffers);
        setImmediate(done);
      },
    });
    const outcome = await copyWithLimit(source, sink, Number.MAX_SAFE_INTEGER);
    expect(outcome).toEqual({ kind: 'complete', bytes: 4096 * chunk });
    expect(most).toBeLessThan(16 * 2 ** 20);
  });
});
