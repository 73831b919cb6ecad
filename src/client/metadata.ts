import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { fileTypeFromFile } from 'file-type';
import type { LocalFile } from './options.js';

/**
 * `filename` is the basename; `filetype` is sniffed from the first bytes with file-type, the
 * same package tusport's `policy.accept` sniffs with, so a declared type never contradicts the
 * server's own content check (and an unrecognised file, such as plain text, declares none).
 * One small read per file. The user's --metadata wins over both.
 */
export async function metadataFor(file: LocalFile, user: Record<string, string>): Promise<Record<string, string>> {
  const sniffed = file.size > 0 ? await fileTypeFromFile(file.path).catch(() => undefined) : undefined;
  return { filename: path.basename(file.path), ...(sniffed ? { filetype: sniffed.mime } : {}), ...user };
}

/** `--sha256`: the digest of the local file, read once more after it is uploaded. */
export async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
