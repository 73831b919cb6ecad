import { Metadata } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import { checkTusPreconditions } from '../tus/preconditions.js';
import { onUploadLocated } from '../../uploads/located.js';
import { IetfErrors } from './errors.js';
import { byteCount, interopVersionOf, requestCompletes } from './headers.js';
import { sendInformational } from './informational.js';
import { sendProblem } from './problem.js';
import { completeHeaderValue, type InteropVersion } from './versions.js';

/** What an IETF request's answer needs to know beyond the tus handler's headers. */
interface IetfExchange {
  version: InteropVersion;
  /** The upload's length when the door knows it (creation, append); HEAD reads it from the answer. */
  size: number | undefined;
}

const exchanges = new WeakMap<FastifyRequest, IetfExchange>();

/** Recorded in the upload's metadata (so in its sidecar and in hooks' `MetaData`): which door it came through. */
export const PROTOCOL_METADATA_KEY = 'upload-protocol';

const OFFSET_OCTET_STREAM = 'application/offset+octet-stream';

/**
 * The IETF door on a tus route: translate the draft's request into the tus request the route's
 * handler serves (same creation, write path, locks, policy, quotas, completion, hooks and stores),
 * and let `ietfOnSend` translate the answer back. Only requests carrying
 * `Upload-Draft-Interop-Version` come here; what differs between interop versions is read from
 * versions.ts. Errors are answered as problem details.
 */
export async function serveIetf(
  tusHandler: ProtocolHandler,
  runtime: EndpointRuntime,
  context: UploadContext,
  request: FastifyRequest,
  reply: FastifyReply,
): Promise<unknown> {
  let version: InteropVersion | undefined;
  try {
    version = interopVersionOf(request);
    const exchange: IetfExchange = { version, size: undefined };
    exchanges.set(request, exchange);
    if (request.method === 'POST' && context.uploadId === undefined) prepareCreation(runtime, request, reply, exchange);
    else if (request.method === 'PATCH') await prepareAppend(runtime, context, request, reply, exchange);
    else if (request.method === 'OPTIONS' && version.uploadLimit) reply.header('Upload-Limit', uploadLimit(runtime));
    // From here on the request is a tus request in every header the tus handler reads.
    request.headers['tus-resumable'] = '1.0.0';
    checkTusPreconditions(request, reply, runtime.config);
    return await tusHandler(runtime, context, request, reply);
  } catch (error) {
    return sendProblem(request, reply, version, error);
  }
}

/**
 * Creation (any POST to the collection URL): the body is the upload's first part. Complete
 * (`Upload-Complete: ?1`): its length is the body's. Incomplete: Upload-Length if the client
 * declared one, else deferred. The 104 goes out once the upload exists, before its body is read.
 */
function prepareCreation(runtime: EndpointRuntime, request: FastifyRequest, reply: FastifyReply, exchange: IetfExchange): void {
  const { version } = exchange;
  const completes = requestCompletes(request, version);
  const declared = byteCount(request, 'upload-length');
  const contentLength = byteCount(request, 'content-length');
  const chunked = contentLength === undefined && request.headers['transfer-encoding'] !== undefined;
  let size = declared;
  if (completes && !chunked) {
    const length = contentLength ?? 0;
    if (declared !== undefined && declared !== length) throw new IetfErrors.INCONSISTENT_LENGTH(`Upload-Length ${declared} but the complete body has ${length} bytes`);
    size = length;
  } else if (completes && declared === undefined) {
    throw new IetfErrors.LENGTH_REQUIRED();
  } else if (declared !== undefined && contentLength !== undefined && contentLength > declared) {
    throw new IetfErrors.INCONSISTENT_LENGTH(`Upload-Length ${declared} but the body alone has ${contentLength} bytes`);
  }
  exchange.size = size;
  setLength(request, size, true);
  setBody(request, chunked || (contentLength ?? 0) > 0);
  const metadata = typeof request.headers['upload-metadata'] === 'string' ? Metadata.parse(request.headers['upload-metadata']) : {};
  metadata[PROTOCOL_METADATA_KEY] = `ietf-draft-interop-${version.version}`;
  request.headers['upload-metadata'] = Metadata.stringify(metadata);
  onUploadLocated(request, (location) => {
    if (cameThroughProxy(request)) return false;
    const headers: Record<string, string> = { Location: location, 'Upload-Draft-Interop-Version': String(version.version) };
    if (version.uploadLimit) headers['Upload-Limit'] = uploadLimit(runtime);
    return sendInformational(reply, 104, 'Upload Resumption Supported', headers);
  });
}

/**
 * No 1xx through a proxy: nginx 1.22 (the shipped config's) takes an upstream's 104 for the final
 * response and passes the real answer on as its body, which breaks the exchange. The client then
 * learns the URL from the final answer, as before the draft had 104 (a creation cut short is
 * discarded then, as for tus: nobody could resume it).
 */
function cameThroughProxy(request: FastifyRequest): boolean {
  return ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via'].some((name) => request.headers[name] !== undefined);
}

/**
 * Append (PATCH): checked against the upload as stored, in the draft's order: the offset first
 * (409 mismatching-upload-offset, so the client learns where to resume), then a completed upload
 * (400 completed-upload), then lengths that disagree (400 inconsistent-upload-length). The tus
 * handler checks the offset again under the upload's lock.
 */
async function prepareAppend(runtime: EndpointRuntime, context: UploadContext, request: FastifyRequest, reply: FastifyReply, exchange: IetfExchange): Promise<void> {
  const { version } = exchange;
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const mediaType = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (version.appendMediaType && mediaType !== version.appendMediaType) throw new IetfErrors.MEDIA_TYPE(version.version, version.appendMediaType);
  const completes = requestCompletes(request, version);
  const offset = byteCount(request, 'upload-offset');
  if (offset === undefined) throw new Errors.INVALID_HEADER('Upload-Offset', 'missing (an append must say where its bytes go)');
  const contentLength = byteCount(request, 'content-length');
  const declared = byteCount(request, 'upload-length');
  await runtime.store.authorize(id, context);
  const stored = await runtime.store.require(id, context);
  if (stored.offset !== offset) {
    reply.header('Upload-Offset', String(stored.offset));
    throw new Errors.OFFSET_MISMATCH(offset, stored.offset);
  }
  const size = stored.sidecar.size;
  if (size !== undefined && stored.offset === size) throw new IetfErrors.COMPLETED_UPLOAD(size);
  if (declared !== undefined && size !== undefined && declared !== size) throw new IetfErrors.INCONSISTENT_LENGTH(`Upload-Length ${declared} differs from the upload's length ${size}`);
  let total = size ?? declared;
  if (completes && contentLength !== undefined) {
    if (total !== undefined && offset + contentLength !== total) throw new IetfErrors.INCONSISTENT_LENGTH(`this append ends the upload at ${offset + contentLength} bytes, but its length is ${total}`);
    total = offset + contentLength;
  } else if (completes && total === undefined) {
    throw new IetfErrors.LENGTH_REQUIRED();
  } else if (total !== undefined && contentLength !== undefined && offset + contentLength > total) {
    throw new IetfErrors.INCONSISTENT_LENGTH(`this append goes to ${offset + contentLength} bytes, past the upload's length ${total}`);
  }
  exchange.size = total;
  // tus sets a deferred length on the PATCH that learns it, and refuses to set it twice.
  setLength(request, size === undefined ? total : undefined, false);
  setBody(request, true);
}

function setLength(request: FastifyRequest, size: number | undefined, creation: boolean): void {
  delete request.headers['upload-defer-length'];
  if (size !== undefined) request.headers['upload-length'] = String(size);
  else {
    delete request.headers['upload-length'];
    if (creation) request.headers['upload-defer-length'] = '1';
  }
}

function setBody(request: FastifyRequest, hasBody: boolean): void {
  if (hasBody) request.headers['content-type'] = OFFSET_OCTET_STREAM;
  else delete request.headers['content-type'];
}

/**
 * Upload-Limit (an RFC 8941 dictionary) from the endpoint's limits: max-size from maxSize,
 * max-append-size from maxChunkSize; `min-size=0` when there is neither.
 */
export function uploadLimit(runtime: EndpointRuntime): string {
  const limits: string[] = [];
  if (runtime.config.maxSize !== undefined) limits.push(`max-size=${runtime.config.maxSize}`);
  if (runtime.config.maxChunkSize !== undefined) limits.push(`max-append-size=${runtime.config.maxChunkSize}`);
  return limits.length > 0 ? limits.join(', ') : 'min-size=0';
}

/**
 * Route-level onSend: an IETF request's answer in the draft's terms. No tus headers; the
 * version echoed; the upload's state as Upload-Complete (Upload-Incomplete in interop 3) wherever
 * the offset is reported; Upload-Length where the version has it; offset retrieval is 204.
 */
export async function ietfOnSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const exchange = exchanges.get(request);
  if (!exchange) return payload;
  const { version } = exchange;
  for (const name of ['tus-resumable', 'tus-version', 'tus-extension', 'tus-max-size', 'tus-checksum-algorithm', 'upload-defer-length', 'upload-metadata']) reply.removeHeader(name);
  reply.header('Upload-Draft-Interop-Version', String(version.version));
  const offset = reply.getHeader('upload-offset');
  const lengthHeader = reply.getHeader('upload-length');
  const size = exchange.size ?? (lengthHeader === undefined ? undefined : Number(lengthHeader));
  reply.removeHeader('upload-length');
  if (offset !== undefined && reply.statusCode < 300) {
    reply.header(...completeHeaderValue(version, size !== undefined && Number(offset) === size));
    if (version.reportsLength && size !== undefined) reply.header('Upload-Length', String(size));
  }
  if (request.method === 'HEAD' && reply.statusCode === 200) reply.code(204);
  return payload;
}
