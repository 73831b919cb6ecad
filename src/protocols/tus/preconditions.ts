import { Metadata, TUS_RESUMABLE } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../../errors.js';
import { closeAfterAnswer } from '../../limits/linger.js';
import { parseUploadConcat } from './concat.js';

export interface PreconditionLimits {
  maxSize?: number | undefined;
  maxChunkSize?: number | undefined;
  maxMetadataSize: number;
}

const NON_NEGATIVE_INTEGER = /^(0|[1-9]\d{0,15})$/;

/**
 * Checks every tus request gets before any handler runs, so that each
 * bad header has one answer with one clear message, and nothing is read, locked or written.
 */
export function checkTusPreconditions(request: FastifyRequest, reply: FastifyReply, limits: PreconditionLimits): void {
  const { method, headers } = request;
  if (method === 'OPTIONS' || method === 'GET') return;

  if (headers['tus-resumable'] !== TUS_RESUMABLE) {
    reply.header('Tus-Version', TUS_RESUMABLE);
    throw new Errors.MISSING_TUS_RESUMABLE();
  }
  for (const name of ['upload-length', 'upload-offset'] as const) {
    const value = headers[name];
    if (value !== undefined && !isSafeNonNegativeInteger(value)) {
      throw new Errors.INVALID_HEADER(headerName(name), `${quote(value)} (expected a whole number of bytes, 0 to 2^53-1)`);
    }
  }
  const defer = headers['upload-defer-length'];
  if (defer !== undefined && defer !== '1') {
    throw new Errors.INVALID_HEADER('Upload-Defer-Length', `${quote(defer)} (the only allowed value is 1)`);
  }
  if (method === 'POST' && request.uploadContext?.uploadId === undefined) {
    const concat = parseUploadConcat(request);
    if (concat && 'final' in concat) checkFinalCreation(request);
    else checkCreationLength(request, limits);
  }
  const metadata = headers['upload-metadata'];
  if (metadata !== undefined && method === 'POST') {
    const size = Buffer.byteLength(String(metadata));
    if (size > limits.maxMetadataSize) throw new Errors.METADATA_TOO_LARGE(size, limits.maxMetadataSize);
    if (!isValidMetadata(String(metadata))) {
      throw new Errors.INVALID_HEADER(
        'Upload-Metadata',
        'expected comma-separated "key base64value" pairs with unique, non-empty ASCII keys',
      );
    }
  }
  if (limits.maxChunkSize !== undefined && (method === 'PATCH' || method === 'POST')) {
    const length = headers['content-length'];
    if (length !== undefined && Number(length) > limits.maxChunkSize) {
      // Answer before reading a byte; the connection closes (lingering while the client still
      // sends, so it reads this answer rather than a reset) and the unread body is not parsed.
      closeAfterAnswer(reply);
      throw new Errors.CHUNK_TOO_LARGE(limits.maxChunkSize);
    }
  }
}

/** A final upload's length is the sum of its partial uploads, and its bytes are theirs. */
function checkFinalCreation(request: FastifyRequest): void {
  for (const name of ['Upload-Length', 'Upload-Defer-Length']) {
    if (request.headers[name.toLowerCase()] !== undefined) {
      throw new Errors.INVALID_HEADER(name, 'a final upload (Upload-Concat: final) declares no length: it is the sum of its partial uploads');
    }
  }
  const length = request.headers['content-length'];
  if ((length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined) {
    throw new Errors.INVALID_HEADER('Upload-Concat', 'a final upload takes no body: its bytes are those of its partial uploads');
  }
}

/** Creation needs exactly one of Upload-Length and Upload-Defer-Length, within maxSize. */
function checkCreationLength(request: FastifyRequest, limits: PreconditionLimits): void {
  const length = request.headers['upload-length'];
  const deferred = request.headers['upload-defer-length'] !== undefined;
  if ((length === undefined) === !deferred) {
    throw new Errors.INVALID_HEADER('Upload-Length', 'a new upload needs exactly one of Upload-Length and Upload-Defer-Length: 1');
  }
  if (length !== undefined && limits.maxSize !== undefined && Number(length) > limits.maxSize) {
    throw new Errors.UPLOAD_TOO_LARGE(length, limits.maxSize);
  }
}

function isSafeNonNegativeInteger(value: string | string[]): boolean {
  return typeof value === 'string' && NON_NEGATIVE_INTEGER.test(value) && Number.isSafeInteger(Number(value));
}

function isValidMetadata(value: string): boolean {
  try {
    Metadata.parse(value);
    return true;
  } catch {
    return false;
  }
}

function headerName(lower: string): string {
  return lower.replace(/(^|-)([a-z])/g, (_, dash: string, c: string) => dash + c.toUpperCase());
}

function quote(value: string | string[]): string {
  const text = Array.isArray(value) ? value.join(', ') : value;
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

/** Parse a header validated above; undefined when absent. */
export function integerHeader(request: FastifyRequest, name: 'upload-length' | 'upload-offset'): number | undefined {
  const value = request.headers[name];
  return typeof value === 'string' ? Number(value) : undefined;
}
