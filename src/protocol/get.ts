import { Errors } from '../errors.js';
import type { ProtocolHandler } from '../endpoints/runtime.js';
import { isComplete } from '../stores/endpoint-store.js';
import { storageError } from './storage-errors.js';

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

/**
 * GET: download a finished upload. Ours because @tus/server wraps the file stream in a web
 * Response whose cancellation (a client or shutdown closing the socket mid-download) throws an
 * uncaught ERR_INVALID_STATE from undici and takes the process down, and because it copies the
 * client's filename into Content-Disposition unencoded (non-Latin-1 names make Node throw).
 */
export const handleGet: ProtocolHandler = async (runtime, context, _request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const stored = await runtime.store.require(id, context);
  // Unfinished uploads are not served: their bytes are not the file yet. Say so, as HEAD would.
  if (!isComplete(stored)) {
    if (runtime.store.isExpired(stored)) throw new Errors.UPLOAD_EXPIRED();
    throw new Errors.UPLOAD_INCOMPLETE(stored.offset, stored.sidecar.size ?? 'an unknown number of');
  }
  const { filetype, filename } = stored.sidecar.metadata ?? {};
  const type = filetype && MIME_TYPE.test(filetype) ? filetype.toLowerCase() : 'application/octet-stream';
  const disposition = INLINE_TYPES.has(type) ? 'inline' : 'attachment';
  reply.header('Content-Type', type);
  reply.header('Content-Disposition', filename ? `${disposition}; ${encodeFilename(filename)}` : disposition);
  reply.header('Content-Length', String(stored.offset));
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Cache-Control', 'private, no-cache');
  let body;
  try {
    body = await runtime.store.openStored(stored);
  } catch (error) {
    throw storageError(error, context.log, id);
  }
  return reply.send(body);
};

/** RFC 6266: an ASCII fallback plus the exact name as RFC 5987 UTF-8. */
function encodeFilename(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\/]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
