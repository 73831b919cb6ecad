import type { FastifyRequest } from 'fastify';
import { Errors } from '../../errors.js';
import { IetfErrors } from './errors.js';
import { INTEROP_VERSIONS, type InteropVersion } from './versions.js';

const INTEROP_HEADER = 'upload-draft-interop-version';

/** A request for the IETF door is one that names an interop version; tus requests never do. */
export function isIetfRequest(request: FastifyRequest): boolean {
  return request.headers[INTEROP_HEADER] !== undefined;
}

/** The interop version a request names, or a 400 for one this server does not serve. */
export function interopVersionOf(request: FastifyRequest): InteropVersion {
  const raw = request.headers[INTEROP_HEADER];
  const text = Array.isArray(raw) ? raw.join(',') : String(raw ?? '');
  const version = /^\d{1,3}$/.test(text.trim()) ? INTEROP_VERSIONS.get(Number(text.trim())) : undefined;
  if (!version) throw new IetfErrors.INTEROP_VERSION(JSON.stringify(text.slice(0, 32)));
  return version;
}

/**
 * Does this request's body end the upload? Interop 3 spells it `Upload-Incomplete: ?1` (absent:
 * complete); from 4 on `Upload-Complete` (an RFC 8941 boolean) is required on creations and appends.
 */
export function requestCompletes(request: FastifyRequest, version: InteropVersion): boolean {
  const name = version.completeHeader;
  const raw = request.headers[name];
  const spelled = name === 'upload-incomplete' ? 'Upload-Incomplete' : 'Upload-Complete';
  if (raw === undefined) {
    if (name === 'upload-incomplete') return true;
    throw new IetfErrors.COMPLETE_HEADER(`${spelled} is required in interop version ${version.version} (?1 when this request's body ends the upload, ?0 otherwise)`);
  }
  const value = Array.isArray(raw) ? raw.join(',') : raw.trim();
  if (value !== '?1' && value !== '?0') throw new IetfErrors.COMPLETE_HEADER(`${spelled} must be a structured-field boolean, ?1 or ?0; got ${JSON.stringify(value.slice(0, 32))}`);
  const flag = value === '?1';
  return name === 'upload-incomplete' ? !flag : flag;
}

const WHOLE_NUMBER = /^(0|[1-9]\d{0,15})$/;

/** A byte count header (Upload-Length, Upload-Offset, Content-Length); undefined when absent. */
export function byteCount(request: FastifyRequest, name: 'upload-length' | 'upload-offset' | 'content-length'): number | undefined {
  const raw = request.headers[name];
  if (raw === undefined) return undefined;
  const value = String(raw).trim();
  if (!WHOLE_NUMBER.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new Errors.INVALID_HEADER(name, `${JSON.stringify(value.slice(0, 32))} (expected a whole number of bytes, 0 to 2^53-1)`);
  }
  return Number(value);
}
