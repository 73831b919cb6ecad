import { Metadata } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import { handleCreate } from '../tus/create.js';
import { checkTusPreconditions } from '../tus/preconditions.js';
import { onUploadLocated } from '../../uploads/located.js';
import { IetfErrors } from './errors.js';
import { byteCount, interopVersionOf, requestCompletes } from './headers.js';
import { sendInformational } from './informational.js';
import { fullLifetime, lifetimeFromExpires, uploadLimit } from './limits.js';
import { sendProblem } from './problem.js';
import { lengthIsBody } from '../../uploads/length-from-body.js';
import { completeHeaderValue, type InteropVersion } from './versions.js';

/** What an IETF request's answer needs to know beyond the tus handler's headers. */
interface IetfExchange {
  version: InteropVersion;
  /** The upload's length when the door knows it (creation, append); HEAD reads it from the answer. */
  size: number | undefined;
  /** A complete creation whose length is its body's (chunked, no Upload-Length). */
  lengthIsBody: boolean;
  runtime: EndpointRuntime;
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
    const exchange: IetfExchange = { version, size: undefined, lengthIsBody: false, runtime };
    exchanges.set(request, exchange);
    if (context.uploadId === undefined && (request.method === 'POST' || request.method === 'PUT')) prepareCreation(runtime, request, exchange, reply);
    else if (request.method === 'PATCH') await prepareAppend(runtime, context, request, reply, exchange);
    else if (request.method === 'OPTIONS') prepareOptions(runtime, reply, version);
    else if (request.method === 'HEAD' || request.method === 'DELETE') refuseStateHeaders(request, version);
    // From here on the request is a tus request in every header the tus handler reads.
    request.headers['tus-resumable'] = '1.0.0';
    checkTusPreconditions(request, reply, runtime.config);
    return await tusHandler(runtime, context, request, reply);
  } catch (error) {
    return sendProblem(runtime, request, reply, version, error);
  }
}

/**
 * The handler of a PUT to the collection URL: an IETF creation is served by the tus creation it
 * translates to (serveIetf calls it with tus headers); a PUT that is not IETF finds no endpoint, as before.
 */
export const ietfCreationOnly: ProtocolHandler = async (runtime, context, request, reply) => {
  if (!exchanges.has(request)) throw new Errors.ROUTE_NOT_FOUND(request.method, request.url);
  return handleCreate(runtime, context, request, reply);
};

/**
 * Creation (a POST or PUT to the collection URL: "all request methods that allow content are
 * possible", -01: all but GET, HEAD, DELETE and OPTIONS): the body is the upload's first part.
 * Complete (`Upload-Complete: ?1`): its length is the body's: Content-Length, or with a chunked body
 * whatever arrives whole (the creation then settles it). Incomplete: Upload-Length if the client
 * declared one, else deferred. The 104 goes out once the upload exists, before its body is read.
 */
function prepareCreation(runtime: EndpointRuntime, request: FastifyRequest, exchange: IetfExchange, reply: FastifyReply): void {
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
    lengthIsBody(request);
    exchange.lengthIsBody = true;
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
    const limits = uploadLimit(runtime, version, fullLifetime(runtime));
    if (limits) headers['Upload-Limit'] = limits;
    return sendInformational(reply, 104, 'Upload Resumption Supported', headers);
  });
}

/**
 * OPTIONS: the limits (-05 on: "MUST include the Upload-Limit header field ... in a response to an
 * OPTIONS request"), and from -10 `Accept-Patch` naming the append media type (sent wherever the
 * version has that media type: it says what PATCH takes).
 */
function prepareOptions(runtime: EndpointRuntime, reply: FastifyReply, version: InteropVersion): void {
  const limits = uploadLimit(runtime, version, fullLifetime(runtime));
  if (limits) reply.header('Upload-Limit', limits);
  if (version.appendMediaType) reply.header('Accept-Patch', version.appendMediaType);
}

/**
 * -01 to -05: "The request MUST NOT include an Upload-Offset or Upload-Complete header field" on
 * HEAD and DELETE (400); -05, which brought Upload-Length, adds it to the list.
 */
function refuseStateHeaders(request: FastifyRequest, version: InteropVersion): void {
  if (!version.refusesStateHeadersOnHeadAndDelete) return;
  const names = ['upload-offset', version.completeHeader, ...(version.uploadLength ? ['upload-length'] : [])];
  const present = names.find((name) => request.headers[name] !== undefined);
  if (present) throw new IetfErrors.STATE_HEADER(request.method, present, version.version);
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
  if (size !== undefined && stored.offset === size) {
    // From -09: "If the client attempted to append a non-zero length document, the server MUST treat this as an inconsistent length failure."
    const empty = contentLength === 0 || (contentLength === undefined && request.headers['transfer-encoding'] === undefined);
    if (version.completedNonEmptyIsInconsistentLength && !empty) throw new IetfErrors.INCONSISTENT_LENGTH(`the upload is already complete at ${size} bytes; nothing more can be appended`);
    throw new IetfErrors.COMPLETED_UPLOAD(size);
  }
  if (declared !== undefined && size !== undefined && declared !== size) throw new IetfErrors.INCONSISTENT_LENGTH(`Upload-Length ${declared} differs from the upload's length ${size}`);
  let total = size ?? declared;
  if (completes && contentLength !== undefined) {
    if (total !== undefined && offset + contentLength !== total) throw new IetfErrors.INCONSISTENT_LENGTH(`this append ends the upload at ${offset + contentLength} bytes, but its length is ${total}`);
    total = offset + contentLength;
  } else if (completes && total === undefined) {
    // A chunked body that ends the upload: its length is where it ends (the append path settles it).
    lengthIsBody(request);
    exchange.lengthIsBody = true;
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
 * Route-level onSend: an IETF request's answer in the draft's terms. No tus headers; the
 * version echoed; the upload's state as Upload-Complete (Upload-Incomplete in interop 3) wherever
 * the offset is reported; Upload-Length and Upload-Limit where the version has them; offset
 * retrieval is 204; an append is answered with the version's status (201 up to -05).
 */
export async function ietfOnSend(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  const exchange = exchanges.get(request);
  if (!exchange) return payload;
  const { version, runtime } = exchange;
  const expires = reply.getHeader('upload-expires');
  for (const name of ['tus-resumable', 'tus-version', 'tus-extension', 'tus-max-size', 'tus-checksum-algorithm', 'upload-defer-length', 'upload-metadata', 'upload-expires']) reply.removeHeader(name);
  reply.header('Upload-Draft-Interop-Version', String(version.version));
  const offset = reply.getHeader('upload-offset');
  const lengthHeader = reply.getHeader('upload-length');
  const succeeded = reply.statusCode < 300;
  // A complete creation without a length: its length is what it stored.
  const bodyLength = exchange.lengthIsBody && succeeded && offset !== undefined ? Number(offset) : undefined;
  const size = exchange.size ?? bodyLength ?? (lengthHeader === undefined ? undefined : Number(lengthHeader));
  reply.removeHeader('upload-length');
  if (offset !== undefined && succeeded) {
    reply.header(...completeHeaderValue(version, size !== undefined && Number(offset) === size));
    if (version.uploadLength && size !== undefined) reply.header('Upload-Length', String(size));
  }
  // HEAD: "MUST indicate the limits" (-09 on; MAY before); creation: with its Location.
  const stateAnswer = (request.method === 'HEAD' && succeeded) || (reply.statusCode === 201 && reply.hasHeader('location'));
  const limits = stateAnswer ? uploadLimit(runtime, version, lifetimeFromExpires(expires)) : undefined;
  if (limits) reply.header('Upload-Limit', limits);
  if (request.method === 'HEAD' && reply.statusCode === 200) reply.code(204);
  if (request.method === 'PATCH' && reply.statusCode === 204) reply.code(version.appendStatus);
  return payload;
}
