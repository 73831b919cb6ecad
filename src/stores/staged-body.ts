import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ChunkVerifier } from './backend.js';
import { scratchDirectory } from './scratch.js';
import { copyWithLimit, type CopyOutcome } from './stream-copy.js';

/** Bytes buffered between the socket and the staging file. */
const STAGE_BUFFER_BYTES = 1024 * 1024;

/** A request body held in a temp file until its verifier has judged it. */
export interface StagedBody {
  outcome: CopyOutcome;
  /** Whether the body arrived whole and the verifier accepted it: only then may it be stored. */
  verified: boolean;
  /** The staged bytes, read once. */
  open(): Readable;
  /** Delete the temp file (always call it, verified or not). */
  discard(): Promise<void>;
}

/**
 * Stage a body in a temp file (a scratch directory under `os.tmpdir()`), feeding the verifier while it streams, for stores
 * whose writes cannot be taken back (S3 parts): they receive the bytes only once they are
 * verified. Only verified writes take this detour; the rest stream straight to the store.
 */
export async function stageBody(source: Readable, limit: number, verify: ChunkVerifier, stop?: AbortSignal): Promise<StagedBody> {
  // A directory of its own: a SIGKILLed process's staged body is removed by the next one (scratch.ts).
  const scratch = await scratchDirectory('staged');
  const file = path.join(scratch.dir, 'body');
  const discard = scratch.remove;
  let outcome: CopyOutcome;
  try {
    // 'wx' and 0600: a fresh file nobody else reads, never one someone put there.
    const sink = createWriteStream(file, { flags: 'wx', mode: 0o600, highWaterMark: STAGE_BUFFER_BYTES });
    outcome = await copyWithLimit(source, sink, limit, stop, (chunk) => verify.update(chunk));
  } catch (error) {
    await discard();
    throw error;
  }
  return {
    outcome,
    verified: outcome.kind === 'complete' && verify.matches(),
    open: () => createReadStream(file, { highWaterMark: STAGE_BUFFER_BYTES }),
    discard,
  };
}
