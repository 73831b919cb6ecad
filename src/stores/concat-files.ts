import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import { NO_FOLLOW, STREAM_FLAGS } from './sidecar.js';

/** Read size of the streamed appends: few, large writes. */
const APPEND_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Make `target` (an existing, empty data file) the concatenation of `sources`, durably.
 *
 * The first source is copied with `fs.copyFile` and COPYFILE_FICLONE: a reflink where the
 * filesystem has them (btrfs, XFS: no bytes copied), else libuv's in-kernel copy
 * (copy_file_range/sendfile: the bytes never pass through JavaScript). Node offers no way to
 * append a file to another in the kernel, so every further source is streamed once, in
 * 4 MiB reads, onto the end of `target`. Every byte is read once, never twice; the file is fsynced
 * before this resolves (the answer that acknowledges the final upload comes after).
 */
export async function concatenateFiles(target: string, sources: readonly string[]): Promise<void> {
  const [first, ...rest] = sources;
  if (first !== undefined) await fs.copyFile(first, target, fs.constants.COPYFILE_FICLONE);
  const handle = await fs.open(target, fs.constants.O_WRONLY | fs.constants.O_APPEND | NO_FOLLOW);
  try {
    for (const source of rest) {
      // The read stream reads ahead (up to one chunk) while the previous chunk is written.
      for await (const chunk of createReadStream(source, { flags: STREAM_FLAGS.read, highWaterMark: APPEND_CHUNK_BYTES })) {
        await handle.write(chunk as Buffer);
      }
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}
