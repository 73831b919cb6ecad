import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { checkParamValue, normalizeParamValue, parseUrlTemplate } from '../endpoints/template.js';
import { forbidden, unauthorized } from './errors.js';
import type { SignedScope } from './types.js';

/**
 * Short-lived upload tokens minted by the app backend: `v1.<payload>.<mac>`, both parts
 * base64url, the MAC an HMAC-SHA256 over `v1.<payload>`. Each token is scoped to one endpoint
 * and its exact template params, so a token for /users/alice/uploads never opens bob's.
 */

const VERSION = 'v1';
/** Backend and upload server clocks may differ a little. */
export const SIGNED_CLOCK_TOLERANCE_MS = 5_000;
const MAX_TOKEN_LENGTH = 8 * 1024;
const B64URL = /^[A-Za-z0-9_-]+$/;

const PayloadSchema = z.strictObject({
  sub: z.string().min(1),
  endpoint: z.string().min(1),
  params: z.record(z.string(), z.string()),
  maxSize: z.number().int().min(0).optional(),
  accept: z.array(z.string().min(1)).optional(),
  exp: z.number().int(),
  iat: z.number().int(),
});

export type UploadTokenPayload = z.output<typeof PayloadSchema>;

export interface SignUploadTokenOptions {
  secret: string;
  /** The principal id the upload will be owned by. */
  principal: string;
  /** The endpoint's URL template (`/users/{username}/uploads`). */
  endpoint: string;
  /** Values for every template param, no more and no fewer. */
  params?: Record<string, string>;
  maxSize?: number;
  accept?: string[];
  /** Lifetime in milliseconds (rounded up to whole seconds)... */
  expiresIn?: number;
  /** ...or an absolute expiry. Exactly one of the two. */
  expiresAt?: Date;
  /** For tests: the current time in ms. */
  now?: number;
}

const mac = (secret: string, signed: string) => createHmac('sha256', secret).update(signed).digest();

const trimSlash = (template: string) => (template.length > 1 && template.endsWith('/') ? template.slice(0, -1) : template);

export function signUploadToken(options: SignUploadTokenOptions): string {
  const { secret, principal, params = {}, now = Date.now() } = options;
  if (!secret) throw new Error('a signing secret is required');
  if (!principal) throw new Error('a principal id (sub) is required');
  // Refuse to mint a token that could never match a request.
  const template = parseUrlTemplate(options.endpoint);
  const missing = template.params.filter((name) => params[name] === undefined);
  const extra = Object.keys(params).filter((name) => !template.params.includes(name));
  if (missing.length > 0) throw new Error(`endpoint ${template.source} needs a value for ${missing.map((n) => `{${n}}`).join(', ')}`);
  if (extra.length > 0) throw new Error(`endpoint ${template.source} has no param ${extra.map((n) => `{${n}}`).join(', ')}`);
  // Params as requests will carry them (NFC), so a token minted from an NFD name still matches.
  const normalized = Object.fromEntries(Object.entries(params).map(([name, value]) => [name, normalizeParamValue(value)]));
  for (const [name, value] of Object.entries(normalized)) {
    const problem = checkParamValue(value);
    if (problem) throw new Error(`param ${name}: ${problem}`);
  }
  if ((options.expiresIn === undefined) === (options.expiresAt === undefined)) throw new Error('give exactly one of expiresIn and expiresAt');
  const iat = Math.floor(now / 1000);
  const exp = options.expiresAt ? Math.floor(options.expiresAt.getTime() / 1000) : iat + Math.ceil((options.expiresIn ?? 0) / 1000);
  if (!Number.isSafeInteger(exp) || exp <= iat) throw new Error('the token must expire in the future');
  if (options.maxSize !== undefined && !(Number.isSafeInteger(options.maxSize) && options.maxSize >= 0)) throw new Error('maxSize must be a whole number of bytes');
  const payload: UploadTokenPayload = { sub: principal, endpoint: template.source, params: normalized, exp, iat };
  if (options.maxSize !== undefined) payload.maxSize = options.maxSize;
  if (options.accept !== undefined && options.accept.length > 0) payload.accept = [...options.accept];
  const body = `${VERSION}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/** Check a token's MAC, shape and lifetime. Throws a 401 AuthError; never echoes the token. */
export function verifyUploadToken(token: string, secret: string, now: number = Date.now()): UploadTokenPayload {
  const parts = token.length <= MAX_TOKEN_LENGTH ? token.split('.') : [];
  const [version, encoded, signature] = parts;
  if (parts.length !== 3 || version === undefined || encoded === undefined || signature === undefined || !B64URL.test(encoded) || !B64URL.test(signature)) {
    throw unauthorized('the upload token is malformed');
  }
  if (version !== VERSION) throw unauthorized('the upload token has an unsupported version');
  const expected = mac(secret, `${version}.${encoded}`);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw unauthorized('the upload token signature is invalid');
  let payload: UploadTokenPayload;
  try {
    payload = PayloadSchema.parse(JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')));
  } catch {
    throw unauthorized('the upload token payload is malformed');
  }
  if (payload.exp * 1000 <= now - SIGNED_CLOCK_TOLERANCE_MS) throw unauthorized('the upload token has expired');
  if (payload.iat * 1000 > now + SIGNED_CLOCK_TOLERANCE_MS) throw unauthorized('the upload token is not valid yet');
  return payload;
}

export function scopeOf(payload: UploadTokenPayload): SignedScope {
  const scope: SignedScope = { endpoint: payload.endpoint, params: payload.params, exp: payload.exp };
  if (payload.maxSize !== undefined) scope.maxSize = payload.maxSize;
  if (payload.accept !== undefined) scope.accept = payload.accept;
  return scope;
}

/** A signed token opens only the endpoint and exact params it names: 403 otherwise. */
export function checkSignedScope(scope: SignedScope, endpointTemplate: string, params: Record<string, string>): void {
  if (trimSlash(scope.endpoint) !== trimSlash(endpointTemplate)) throw forbidden('the upload token is for a different endpoint');
  const names = new Set([...Object.keys(scope.params), ...Object.keys(params)]);
  for (const name of names) {
    // Request params are NFC; a token minted elsewhere may spell the same name decomposed.
    if (!Object.hasOwn(scope.params, name) || !Object.hasOwn(params, name) || normalizeParamValue(scope.params[name] ?? '') !== params[name]) {
      throw forbidden(`the upload token does not cover this {${name}}`);
    }
  }
}

/**
 * A declared size must fit the token's `maxSize` (403 otherwise): the token of the request, and the
 * one the upload was created under (its `maxSize` is kept in the sidecar, so a later token without
 * one cannot lift it).
 */
export function checkSignedSize(scope: { maxSize?: number | undefined } | undefined, uploadLength: number | undefined): void {
  if (scope?.maxSize === undefined || uploadLength === undefined) return;
  if (uploadLength > scope.maxSize) throw forbidden(`the upload token allows at most ${scope.maxSize} bytes`);
}
