import parseRange from 'range-parser';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { EndpointRuntime, ProtocolHandler } from '../endpoints/runtime.js';
import { Errors } from '../errors.js';
import { storageError } from '../uploads/storage-errors.js';
import type { ByteRange, StoredUpload } from '../stores/backend.js';
import { isComplete } from '../stores/endpoint-store.js';
import { presentationOf, type Presentation, wantsAttachment } from './disposition.js';
import { FileErrors } from './errors.js';
import { PRESIGN_MAX_SECONDS } from './schema.js';
import { evaluateConditions, rangeAllowed, validatorsOf } from './validators.js';

/**
 * GET of an upload URL: download a finished upload, with single byte ranges (206), validators
 * (strong ETag, Last-Modified) and conditional requests (304/412, If-Range). A request for several
 * ranges is answered 200 with the whole file (RFC 9110 lets a server ignore Range; tusport sends no
 * multipart/byteranges). An unfinished upload is never served, not even its received prefix (the
 * bytes are not the file yet, and `accept` has not checked them): 409 TUSPORT_ERR_UPLOAD_INCOMPLETE
 * with the offset, as HEAD would report it.
 *
 * The bytes stream from the store (on S3 a ranged GetObject: only the slice is fetched). A client
 * that goes away mid-download makes Fastify destroy the stream, which closes the file or aborts
 * the S3 response; Fastify logs that at info level ("stream closed prematurely"), not as an error.
 */
export const handleDownload: ProtocolHandler = async (runtime, context, request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const stored = await runtime.store.require(id, context);
  if (!isComplete(stored)) {
    if (runtime.store.isExpired(stored)) throw new Errors.UPLOAD_EXPIRED();
    throw new Errors.UPLOAD_INCOMPLETE(stored.offset, stored.sidecar.size ?? 'an unknown number of');
  }
  const validators = validatorsOf(stored);
  reply.header('ETag', validators.etag);
  reply.header('Last-Modified', validators.lastModified.toUTCString());
  reply.header('Accept-Ranges', 'bytes');
  reply.header('Cache-Control', 'private, no-cache');
  if (evaluateConditions(request, validators) === 'not-modified') return reply.code(304).send();
  const presentation = presentationOf(stored.sidecar, wantsAttachment(request.query));
  if (context.link && runtime.config.downloads.presignedRedirect && runtime.store.backend.presignGet) {
    return redirectToBucket(runtime, stored, presentation, context.link.expiresAt, reply);
  }
  const size = stored.offset;
  const range = rangeAllowed(request, validators) ? requestedRange(request, size, reply) : undefined;
  reply.header('Content-Type', presentation.contentType);
  reply.header('Content-Disposition', presentation.contentDisposition);
  reply.header('X-Content-Type-Options', 'nosniff');
  reply.header('Content-Length', String(range ? range.end - range.start + 1 : size));
  if (range) reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
  let body;
  try {
    body = await runtime.store.openStored(stored, range);
  } catch (error) {
    throw storageError(error, context.log, id);
  }
  return reply.send(body);
};

/**
 * The one byte range to serve, or undefined for the whole file: no Range, a malformed one or a
 * unit other than bytes (ignored, as RFC 9110 says), or several ranges (see above). A range that
 * starts past the end is 416 with `Content-Range: bytes * /size`.
 */
function requestedRange(request: FastifyRequest, size: number, reply: FastifyReply): ByteRange | undefined {
  const header = request.headers.range;
  if (header === undefined) return undefined;
  const ranges = parseRange(size, header, { combine: true });
  if (ranges === -2) return undefined;
  if (ranges === -1) {
    reply.header('Content-Range', `bytes */${size}`);
    throw new FileErrors.RANGE_NOT_SATISFIABLE(JSON.stringify(header.slice(0, 100)), size);
  }
  if (ranges.type !== 'bytes' || ranges.length !== 1) return undefined;
  const [only] = ranges;
  return only ? { start: only.start, end: only.end } : undefined;
}

/** S3 `presignedRedirect`: the client fetches straight from the bucket, for the rest of the link's life. */
async function redirectToBucket(runtime: EndpointRuntime, stored: StoredUpload, presentation: Presentation, linkExpiresAt: number, reply: FastifyReply) {
  const seconds = Math.max(1, Math.min(PRESIGN_MAX_SECONDS, Math.floor((linkExpiresAt - Date.now()) / 1000)));
  let url: string;
  try {
    url = await runtime.store.backend.presignGet!(stored, { expiresIn: seconds, ...presentation });
  } catch (error) {
    throw storageError(error, reply.log, stored.sidecar.id);
  }
  reply.header('Cache-Control', 'no-store');
  return reply.redirect(url, 302);
}
