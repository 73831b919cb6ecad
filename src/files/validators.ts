import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { StoredUpload } from '../stores/backend.js';
import { FileErrors } from './errors.js';

/**
 * Validators of a finished upload (RFC 9110 §8.8) and the conditional requests built on them.
 * The ETag is strong and derived only from what the sidecar persists (id, size, completion time),
 * so every instance, before and after a restart or a finalize move, gives the same one; it never
 * depends on a file's mtime or an S3 ETag (which differ between a multipart object and its copy).
 */
export interface Validators {
  etag: string;
  lastModified: Date;
}

export function validatorsOf(stored: StoredUpload): Validators {
  const { id, creation_date, tusport } = stored.sidecar;
  const completedAt = tusport.completed_at ?? creation_date;
  const digest = createHash('sha256').update(`${id}\n${stored.offset}\n${completedAt}`).digest('base64url').slice(0, 27);
  // HTTP dates have whole seconds: compare and send the completion time at that precision.
  const lastModified = new Date(Math.floor(Date.parse(completedAt) / 1000) * 1000);
  return { etag: `"${digest}"`, lastModified };
}

export type Conditional = 'not-modified' | 'proceed';

/**
 * RFC 9110 §13.2.2, in its order: If-Match, else If-Unmodified-Since (412 when false);
 * If-None-Match, else If-Modified-Since (304 when false). If-Range is judged by `rangeAllowed`.
 */
export function evaluateConditions(request: FastifyRequest, validators: Validators): Conditional {
  const { headers } = request;
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    if (!matches(ifMatch, validators.etag, 'strong')) throw new FileErrors.PRECONDITION_FAILED('If-Match does not match the current ETag');
  } else {
    const since = parseDate(headers['if-unmodified-since']);
    if (since !== undefined && validators.lastModified.getTime() > since) throw new FileErrors.PRECONDITION_FAILED('the upload changed after If-Unmodified-Since');
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) return matches(ifNoneMatch, validators.etag, 'weak') ? 'not-modified' : 'proceed';
  const since = parseDate(headers['if-modified-since']);
  if (since !== undefined && validators.lastModified.getTime() <= since) return 'not-modified';
  return 'proceed';
}

/** If-Range: the Range applies only while the client's copy is this one (strong ETag, or the exact date). */
export function rangeAllowed(request: FastifyRequest, validators: Validators): boolean {
  const ifRange = request.headers['if-range'];
  if (ifRange === undefined) return true;
  const value = String(Array.isArray(ifRange) ? ifRange[0] : ifRange).trim();
  if (value.startsWith('"') || value.startsWith('W/')) return matches(value, validators.etag, 'strong');
  const date = parseDate(value);
  return date !== undefined && date === validators.lastModified.getTime();
}

/** An If-Match/If-None-Match list against our ETag (`*` matches any current representation). */
function matches(header: string, etag: string, comparison: 'strong' | 'weak'): boolean {
  if (header.trim() === '*') return true;
  for (const raw of header.split(',')) {
    const tag = raw.trim();
    if (tag.startsWith('W/')) {
      // A weak tag never matches strongly (RFC 9110 §8.8.3.2).
      if (comparison === 'weak' && tag.slice(2) === etag) return true;
    } else if (tag === etag) {
      return true;
    }
  }
  return false;
}

function parseDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}
