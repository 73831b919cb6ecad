import fs from 'node:fs';

/** Enough for a sidecar with ordinary metadata; a larger file grows the buffer and reads on. */
const FIRST_READ_BYTES = 8 * 1024;

/**
 * Read a small file (a sidecar) with three trips to libuv's threadpool: open, read, close, where
 * `fs.promises.readFile` takes four (it fstats for the size first) and wraps the descriptor in a
 * FileHandle. Every HEAD and PATCH reads its upload's sidecar, and on a HEAD each trip (a thread
 * hand-off) was a visible share of the CPU. The close is not waited for.
 *
 * A read that fills the buffer reads on; one that returns less is taken as the end of the file,
 * as Node's own readFile does once it knows the size: a regular file reads short only at its end.
 * (Sidecars are replaced by rename, never appended to. A caller that cannot parse what it got
 * should read again with `fs.promises.readFile`: see `readSidecar`.)
 */
export function readSmallFile(file: string, flags: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    fs.open(file, flags, (openError, fd) => {
      if (openError) {
        reject(openError);
        return;
      }
      let buffer = Buffer.allocUnsafe(FIRST_READ_BYTES);
      let length = 0;
      const finish = (error: Error | null) => {
        fs.close(fd, () => undefined);
        if (error) reject(error);
        else resolve(buffer.subarray(0, length));
      };
      const readOn = (): void => {
        fs.read(fd, buffer, length, buffer.length - length, length, (readError, bytesRead) => {
          if (readError) return finish(readError);
          length += bytesRead;
          if (bytesRead === 0 || length < buffer.length) return finish(null);
          const bigger = Buffer.allocUnsafe(buffer.length * 2);
          buffer.copy(bigger, 0, 0, length);
          buffer = bigger;
          readOn();
        });
      };
      readOn();
    });
  });
}
