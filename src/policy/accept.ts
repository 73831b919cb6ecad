import type { Readable } from 'node:stream';
import { fileTypeFromStream } from 'file-type';

/**
 * `accept: ['image/*', 'application/pdf', '.csv']`: which files an endpoint takes. Checked twice:
 * at creation against what the client declares (metadata `filetype` / `filename`), and when the
 * last byte arrives against what the bytes are (magic numbers), so a `.png` that is an ELF
 * binary never counts as done.
 */
export interface AcceptRules {
  mimePatterns: string[];
  extensions: string[];
  /** The list as configured, for messages. */
  list: string[];
}

export function parseAccept(list: string[]): AcceptRules {
  return {
    mimePatterns: list.filter((entry) => entry.includes('/')).map((entry) => entry.toLowerCase()),
    extensions: list.filter((entry) => entry.startsWith('.')).map((entry) => entry.slice(1).toLowerCase()),
    list,
  };
}

export function mimeMatches(patterns: string[], mime: string | undefined | null): boolean {
  if (!mime) return false;
  const type = mime.split(';')[0]?.trim().toLowerCase() ?? '';
  return patterns.some((pattern) => pattern === '*/*' || pattern === type || (pattern.endsWith('/*') && type.startsWith(pattern.slice(0, -1))));
}

export function extensionOf(filename: string | undefined | null): string | undefined {
  if (!filename) return undefined;
  const base = filename.split(/[/\\]/).pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : undefined;
}

/** Does what the client declares fall within the rules? (Either its type or its extension.) */
export function declaredAccepted(rules: AcceptRules, metadata: Record<string, string | null> | undefined): boolean {
  const ext = extensionOf(metadata?.filename);
  return mimeMatches(rules.mimePatterns, metadata?.filetype) || (ext !== undefined && rules.extensions.includes(ext));
}

export type SniffVerdict = { ok: true; sniffed?: string } | { ok: false; sniffed: string };

/**
 * Look at the first bytes. Content that file-type recognises must itself be accepted (by MIME
 * pattern or by its usual extension). Content it cannot recognise (plain text, CSV, JSON) passes:
 * the declared type was already checked at creation.
 */
export async function verifyContent(rules: AcceptRules, open: () => Promise<Readable>): Promise<SniffVerdict> {
  // file-type reads only as far as the format needs (a zip's entries for .docx), then we stop.
  const stream = await open();
  let detected;
  try {
    detected = await fileTypeFromStream(stream);
  } finally {
    stream.destroy();
  }
  if (!detected) return { ok: true };
  const accepted = mimeMatches(rules.mimePatterns, detected.mime) || rules.extensions.includes(detected.ext);
  return accepted ? { ok: true, sniffed: detected.mime } : { ok: false, sniffed: detected.mime };
}
