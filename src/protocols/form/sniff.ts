import type { Readable } from 'node:stream';
import { type AcceptRules, mimeMatches, type SniffVerdict } from '../../policy/accept.js';

/** Enough of a file's start for file-type to tell nearly every format (it needs ~4 KiB for most). */
const HEAD_BYTES = 64 * 1024;

/**
 * Keep a copy of the first bytes of a file part as they stream by to the store, so its type can be
 * judged the moment the part ends, before the next part is read: on S3 the bytes cannot be read
 * back until completion seals the upload. Completion sniffs the stored bytes again (authoritative).
 */
export function captureHead(stream: Readable): () => Buffer {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer) => {
    chunks.push(chunk.subarray(0, HEAD_BYTES - size));
    size += Math.min(chunk.length, HEAD_BYTES - size);
    if (size >= HEAD_BYTES) stream.off('data', onData);
  };
  stream.on('data', onData);
  // Adding a 'data' listener starts the flow: hold it until the store's copy reads too, or bytes
  // would go by before it listens.
  stream.pause();
  return () => {
    stream.off('data', onData);
    return Buffer.concat(chunks);
  };
}

/** The same verdict as `verifyContent` (src/policy/accept.ts), from a file's first bytes. */
export async function verifyHead(rules: AcceptRules, head: Buffer): Promise<SniffVerdict> {
  const { fileTypeFromBuffer } = await import('file-type');
  const detected = await fileTypeFromBuffer(head);
  if (!detected) return { ok: true };
  const accepted = mimeMatches(rules.mimePatterns, detected.mime) || rules.extensions.includes(detected.ext);
  return accepted ? { ok: true, sniffed: detected.mime } : { ok: false, sniffed: detected.mime };
}
