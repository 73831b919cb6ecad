import createError from '@fastify/error';
import type { CodedError } from '../errors.js';

/**
 * Authentication errors. Messages describe what is wrong with the credentials, never the
 * credentials themselves. 401s and 403s carry the RFC 6750 error code for WWW-Authenticate.
 */
export const AuthErrors = {
  UNAUTHORIZED: createError('TUSPORT_ERR_UNAUTHORIZED', 'Authentication failed: %s', 401),
  FORBIDDEN: createError('TUSPORT_ERR_FORBIDDEN', 'Not allowed: %s', 403),
  UNAVAILABLE: createError('TUSPORT_ERR_AUTH_UNAVAILABLE', 'Cannot verify credentials right now (%s); retry later', 503),
} as const;

/** RFC 6750 §3.1 error codes; `null` for a request without credentials (no code is sent then). */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope' | null;

export interface AuthError extends CodedError {
  bearerError: BearerErrorCode;
  /** The message without the "Authentication failed: " prefix, for error_description. */
  description: string;
}

export function unauthorized(description: string, bearerError: BearerErrorCode = 'invalid_token'): AuthError {
  return Object.assign(new AuthErrors.UNAUTHORIZED(description), { bearerError, description }) as AuthError;
}

export function forbidden(description: string): AuthError {
  return Object.assign(new AuthErrors.FORBIDDEN(description), { bearerError: 'insufficient_scope' as const, description }) as AuthError;
}

export function isAuthError(value: unknown): value is AuthError {
  return value instanceof Error && 'bearerError' in value && typeof (value as AuthError).statusCode === 'number';
}

/** Header-safe quoted-string content: no quotes, backslashes or control characters. */
const quoted = (value: string) => value.replace(/["\\\u0000-\u001f\u007f]/g, "'");

/** The WWW-Authenticate value for a 401 or 403 (ours, or a coded error from `authorize`). */
export function challenge(realm: string, error: CodedError): string {
  const code = isAuthError(error) ? error.bearerError : error.statusCode === 403 ? 'insufficient_scope' : 'invalid_token';
  const description = isAuthError(error) ? error.description : error.message;
  const parts = [`realm="${quoted(realm)}"`];
  if (code) parts.push(`error="${code}"`, `error_description="${quoted(description)}"`);
  return `Bearer ${parts.join(', ')}`;
}
