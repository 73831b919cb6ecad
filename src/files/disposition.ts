import type { Sidecar } from '../stores/sidecar.js';

/** Types a browser may render inline; everything else downloads (no HTML/SVG/PDF from users). */
const INLINE_TYPES = new Set([
  'text/plain',
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/bmp',
  'image/webp',
  'audio/wav',
  'audio/webm',
  'audio/ogg',
  'video/mp4',
  'video/webm',
  'video/ogg',
  'application/ogg',
]);
const MIME_TYPE = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/i;
// biome-ignore lint: control characters are exactly what we strip
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export interface Presentation {
  contentType: string;
  contentDisposition: string;
}

/**
 * How a download is presented: the client's declared type when it is a well-formed MIME type
 * (else octet-stream; `X-Content-Type-Options: nosniff` keeps browsers from guessing), inline only
 * for the safe list above and only unless `attachment` is asked (`?download=1`).
 */
export function presentationOf(sidecar: Sidecar, attachment: boolean): Presentation {
  const { filetype, filename } = sidecar.metadata ?? {};
  const contentType = filetype && MIME_TYPE.test(filetype) ? filetype.toLowerCase() : 'application/octet-stream';
  const disposition = !attachment && INLINE_TYPES.has(contentType) ? 'inline' : 'attachment';
  const name = filename ? safeFilename(filename) : '';
  return { contentType, contentDisposition: name ? `${disposition}; ${encodeFilename(name)}` : disposition };
}

/** `?download` present and not `0`/`false`: the client wants a save dialog, whatever the type. */
export function wantsAttachment(query: unknown): boolean {
  const value = (query as Record<string, unknown> | undefined)?.download;
  if (value === undefined) return false;
  const text = String(Array.isArray(value) ? value[0] : value).toLowerCase();
  return text !== '0' && text !== 'false';
}

/** The last path component, without control characters or surrounding dots and spaces. */
function safeFilename(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  return base.replace(CONTROL, '').replace(/^[\s.]+|[\s.]+$/g, '').slice(0, 255);
}

/** RFC 6266: an ASCII fallback plus the exact name as RFC 8187 UTF-8. */
function encodeFilename(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%;]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
