import { createHash, createPublicKey, createSecretKey, type KeyObject, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  createRemoteJWKSet,
  errors as joseErrors,
  type JWTPayload,
  type JWTVerifyGetKey,
  jwtVerify,
} from 'jose';
import { isCodedError } from '../errors.js';
import { parseUrlTemplate } from '../endpoints/template.js';
import { AuthErrors, type AuthError, challenge, forbidden, unauthorized } from './errors.js';
import { ASYMMETRIC_ALGORITHMS, type AuthConfigOutput } from './schema.js';
import { checkSignedScope, scopeOf, verifyUploadToken } from './signed-token.js';
import type { Principal } from './types.js';

export type Authenticator = (request: FastifyRequest, reply: FastifyReply, params: Record<string, string>) => Promise<Principal | null>;
type TokenAuth = Exclude<AuthConfigOutput, { type: 'none' }>;
type Verified = Omit<Principal, 'admin'> & { admin?: boolean };
type Verifier = (token: string | undefined, request: FastifyRequest, params: Record<string, string>) => Promise<Verified>;

/** A broken auth config (unreadable tokens file, bad key, bind on a missing param): fail at startup. */
export class AuthConfigError extends Error {}

const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Build the check for one endpoint. The returned function resolves to the principal (null for
 * `none`) or throws an AuthError: 401 with WWW-Authenticate set on `reply`, 403, or 503.
 */
export function createAuthenticator(auth: AuthConfigOutput, endpointTemplate: string): Authenticator {
  if (auth.type === 'none') return async () => null;
  const template = parseUrlTemplate(endpointTemplate);
  const unknown = Object.keys(auth.bind).filter((name) => !template.params.includes(name));
  if (unknown.length > 0) throw new AuthConfigError(`auth.bind names ${unknown.map((n) => `{${n}}`).join(', ')}, which ${template.source} does not have`);
  const { header, query, cookie } = auth.tokenFrom;
  if (auth.type !== 'function' && !header && !query && !cookie) throw new AuthConfigError('auth.tokenFrom turns off every way to send a token');
  const verify = verifierFor(auth, template.source);

  return async (request, reply, params) => {
    try {
      const token = extractToken(request, auth);
      if (token === undefined && auth.type !== 'function') throw unauthorized(missingMessage(auth), null);
      const verified = await verify(token, request, params);
      const principal: Principal = { ...verified, admin: verified.admin === true || isAdmin(verified.claims, auth.admin) };
      if (principal.scope) checkSignedScope(principal.scope, template.source, params);
      if (!principal.admin) checkBind(auth.bind, principal, params);
      return principal;
    } catch (error) {
      // Also for 401/403s an `authorize` function threw itself.
      if (isCodedError(error) && (error.statusCode === 401 || error.statusCode === 403)) reply.header('WWW-Authenticate', challenge(auth.realm, error));
      throw error;
    }
  };
}

function missingMessage(auth: TokenAuth): string {
  const ways = [auth.tokenFrom.header ? 'an Authorization: Bearer header' : '', auth.tokenFrom.query ? `the "${auth.tokenFrom.query}" query parameter` : '', auth.tokenFrom.cookie ? `the "${auth.tokenFrom.cookie}" cookie` : ''].filter(Boolean);
  return `no credentials; send a token in ${ways.join(' or ')}`;
}

/** The token per `tokenFrom`: header, then query, then cookie. A non-Bearer Authorization is a 401. */
function extractToken(request: FastifyRequest, auth: TokenAuth): string | undefined {
  const { header, query, cookie } = auth.tokenFrom;
  let wrongScheme = false;
  let token: string | undefined;
  const authorization = header ? request.headers.authorization : undefined;
  if (authorization !== undefined) {
    const match = /^Bearer +(\S+) *$/i.exec(authorization);
    if (match) token = match[1];
    else wrongScheme = true;
  }
  if (token === undefined && query) {
    const search = request.url.indexOf('?');
    token = search === -1 ? undefined : (new URLSearchParams(request.url.slice(search + 1)).get(query) ?? undefined);
  }
  if (token === undefined && cookie) token = cookieValue(request.headers.cookie, cookie);
  if (token === '') token = undefined;
  if (token === undefined && wrongScheme && auth.type !== 'function') {
    throw unauthorized('the Authorization header must use the Bearer scheme', 'invalid_request');
  }
  if (token !== undefined && token.length > MAX_TOKEN_LENGTH) throw unauthorized('the token is too long');
  return token;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const pair of header?.split(';') ?? []) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq).trim() === name) {
      const raw = pair.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return undefined;
}

/** A claim by exact name (namespaced claims contain dots), else by dotted path. */
export function claimValue(claims: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  let value: unknown = claims;
  for (const key of name.split('.')) {
    if (typeof value !== 'object' || value === null || !Object.hasOwn(value, key)) return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

function isAdmin(claims: Record<string, unknown>, rule: TokenAuth['admin']): boolean {
  if (!rule) return false;
  const value = claimValue(claims, rule.claim);
  if (rule.value === undefined) return Array.isArray(value) ? value.length > 0 : Boolean(value);
  return Array.isArray(value) ? value.includes(rule.value) : value === rule.value;
}

function checkBind(bind: Record<string, string>, principal: Principal, params: Record<string, string>): void {
  for (const [param, claim] of Object.entries(bind)) {
    const value = claimValue(principal.claims, claim);
    const text = typeof value === 'string' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : undefined;
    // Params are NFC (routes.ts); a claim may spell the same name decomposed.
    if (text === undefined || text.normalize('NFC') !== params[param]) throw forbidden(`these credentials do not grant access to this {${param}}`);
  }
}

function verifierFor(auth: TokenAuth, endpoint: string): Verifier {
  switch (auth.type) {
    case 'bearer':
      return bearerVerifier(auth);
    case 'jwt':
      return jwtVerifier(auth, endpoint);
    case 'signed':
      return async (token) => {
        const payload = verifyUploadToken(token ?? '', auth.secret);
        return { id: payload.sub, claims: { ...payload }, scope: scopeOf(payload) };
      };
    case 'function':
      return async (token, request, params) => {
        const result = await auth.authorize(request, params, token);
        if (result === null || result === undefined) throw unauthorized('the credentials were not accepted');
        checkAuthorizeResult(result);
        return { id: result.id, claims: result.claims ?? {}, admin: result.admin === true };
      };
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

function bearerVerifier(auth: Extract<TokenAuth, { type: 'bearer' }>): Verifier {
  const entries: { id: string; digest: Buffer }[] = [];
  for (const entry of auth.tokens ?? []) entries.push({ id: entry.id, digest: 'token' in entry ? sha256(entry.token) : Buffer.from(entry.sha256, 'hex') });
  const add = (source: string, pairs: string[]) => {
    for (const pair of pairs) {
      const colon = pair.indexOf(':');
      const id = pair.slice(0, colon).trim();
      const token = pair.slice(colon + 1).trim();
      if (colon <= 0 || !/^[^\s:,]{1,128}$/.test(id) || token.length < 16) {
        throw new AuthConfigError(`${source}: expected "id:token" entries with tokens of at least 16 characters`);
      }
      entries.push({ id, digest: sha256(token) });
    }
  };
  if (auth.tokensFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(auth.tokensFile, 'utf8');
    } catch (error) {
      throw new AuthConfigError(`auth.tokensFile ${auth.tokensFile}: ${(error as Error).message}`);
    }
    add(`auth.tokensFile ${auth.tokensFile}`, text.split(/\r?\n/).map((line) => line.trim()).filter((line) => line && !line.startsWith('#')));
  }
  if (auth.tokensEnv !== undefined) {
    const value = process.env[auth.tokensEnv];
    if (!value) throw new AuthConfigError(`auth.tokensEnv: environment variable ${auth.tokensEnv} is not set`);
    add(`auth.tokensEnv ${auth.tokensEnv}`, value.split(',').map((pair) => pair.trim()).filter(Boolean));
  }
  const seen = new Map<string, string>();
  for (const { id, digest } of entries) {
    const other = seen.get(digest.toString('hex'));
    if (other !== undefined && other !== id) throw new AuthConfigError(`auth: the same token is listed for ids "${other}" and "${id}"`);
    seen.set(digest.toString('hex'), id);
  }
  if (entries.length === 0) throw new AuthConfigError('auth: bearer auth has no tokens');

  return async (token) => {
    const digest = sha256(token ?? '');
    let found: string | undefined;
    // Compare against every entry, so timing reveals neither the token nor its position.
    for (const entry of entries) if (timingSafeEqual(digest, entry.digest) && found === undefined) found = entry.id;
    if (found === undefined) throw unauthorized('the token is not valid');
    return { id: found, claims: { sub: found } };
  };
}

/** Algorithms a public key can verify, its usual one first. */
function algorithmsForKey(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ({ prime256v1: ['ES256'], secp384r1: ['ES384'], secp521r1: ['ES512'] } as Record<string, string[]>)[key.asymmetricKeyDetails?.namedCurve ?? ''] ?? [];
    case 'ed25519':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** A JWKS that cannot be fetched or read is our problem, not the client's: 503. */
class JwksUnavailable extends Error {}

function jwtVerifier(auth: Extract<TokenAuth, { type: 'jwt' }>, endpoint: string): Verifier {
  let key: KeyObject | JWTVerifyGetKey;
  let algorithms: string[];
  if (auth.secret !== undefined) {
    key = createSecretKey(Buffer.from(auth.secret, 'utf8'));
    algorithms = auth.algorithms ?? ['HS256'];
  } else if (auth.publicKey !== undefined) {
    try {
      key = createPublicKey(auth.publicKey);
    } catch (error) {
      throw new AuthConfigError(`auth.publicKey of ${endpoint} cannot be read: ${(error as Error).message}`);
    }
    const usable = algorithmsForKey(key);
    const wrong = (auth.algorithms ?? []).filter((alg) => !usable.includes(alg));
    if (usable.length === 0 || wrong.length > 0) throw new AuthConfigError(`auth.publicKey of ${endpoint} cannot verify ${wrong.join(', ') || 'any supported algorithm'}`);
    algorithms = auth.algorithms ?? usable.slice(0, 1);
  } else {
    const jwks = createRemoteJWKSet(new URL(auth.jwksUrl ?? ''), { timeoutDuration: auth.jwksTimeout });
    key = async (header, token) => {
      try {
        return await jwks(header, token);
      } catch (error) {
        if (error instanceof joseErrors.JWKSNoMatchingKey || error instanceof joseErrors.JWKSMultipleMatchingKeys || error instanceof joseErrors.JOSENotSupported) throw error;
        throw new JwksUnavailable((error as Error).message, { cause: error });
      }
    };
    algorithms = auth.algorithms ?? [...ASYMMETRIC_ALGORITHMS];
  }
  const options = {
    algorithms,
    issuer: auth.issuer,
    audience: auth.audience,
    clockTolerance: auth.clockTolerance / 1000,
    requiredClaims: ['exp'],
  };

  return async (token) => {
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token ?? '', key as KeyObject, options)).payload;
    } catch (error) {
      throw jwtFailure(error);
    }
    const raw = claimValue(payload, auth.principalClaim);
    const id = typeof raw === 'string' && raw !== '' ? raw : typeof raw === 'number' && Number.isFinite(raw) ? String(raw) : undefined;
    if (id === undefined) throw unauthorized(`the token has no "${auth.principalClaim}" claim`);
    return { id, claims: payload };
  };
}

/** jose's messages are fine but ours are stable and never quote token contents. */
function jwtFailure(error: unknown): AuthError | Error {
  if (error instanceof JwksUnavailable) return new AuthErrors.UNAVAILABLE('the key set could not be fetched');
  if (error instanceof joseErrors.JWTExpired) return unauthorized('the token has expired');
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return unauthorized(`the token has no "${error.claim}" claim`);
    const what: Record<string, string> = { nbf: 'the token is not valid yet', iss: 'the token issuer is not accepted', aud: 'the token audience is not accepted' };
    return unauthorized(what[error.claim] ?? `the token's "${error.claim}" claim is not accepted`);
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return unauthorized('the token signature is invalid');
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return unauthorized('the token algorithm is not accepted');
  if (error instanceof joseErrors.JWKSNoMatchingKey) return unauthorized('the token was signed with an unknown key');
  if (error instanceof joseErrors.JOSEError) return unauthorized('the token is malformed');
  return isCodedError(error) ? error : new Error('JWT verification failed', { cause: error });
}

/**
 * An `authorize` function returned something other than a principal or null: a bug in the
 * server's own config, so the client gets a plain 500 (TUSPORT_ERR_INTERNAL) and the log names
 * what the function returned.
 */
export class AuthorizeResultError extends Error {
  override name = 'AuthorizeResultError';
}

function checkAuthorizeResult(result: unknown): asserts result is { id: string; claims?: Record<string, unknown>; admin?: boolean } {
  const shape = result as { id?: unknown; claims?: unknown; admin?: unknown };
  const problem =
    typeof result !== 'object' || result === null || Array.isArray(result)
      ? `a ${Array.isArray(result) ? 'array' : typeof result}`
      : typeof shape.id !== 'string' || shape.id === ''
        ? `an object whose id is ${shape.id === '' ? 'empty' : `a ${typeof shape.id}`}`
        : shape.claims !== undefined && (typeof shape.claims !== 'object' || shape.claims === null || Array.isArray(shape.claims))
          ? 'claims that are not an object'
          : shape.admin !== undefined && typeof shape.admin !== 'boolean'
            ? `admin as a ${typeof shape.admin}`
            : undefined;
  if (problem) throw new AuthorizeResultError(`auth.authorize returned ${problem}; it must return { id: non-empty string, claims?: object, admin?: boolean } or null`);
}
