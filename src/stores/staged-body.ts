import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ChunkVerifier } from './backend.js';
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
 * Stage a body in a temp file (`os.tmpdir()`), feeding the verifier while it streams, for stores
 * whose writes cannot be taken back (S3 parts): they receive the bytes only once they are
 * verified. Only verified writes take this detour; the rest stream straight to the store.
 */
export async function stageBody(source: Readable, limit: number, verify: ChunkVerifier, stop?: AbortSignal): Promise<StagedBody> {
  const file = path.join(os.tmpdir(), `tusport-staged-${randomBytes(12).toString('hex')}`);
  const discard = () => fs.rm(file, { force: true });
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
