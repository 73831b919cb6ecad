import { createHmac, timingSafeEqual } from 'node:crypto';
import { FileErrors } from './errors.js';

/**
 * Signed download links: `<upload URL>?expires=<unix seconds>&sig=<base64url HMAC-SHA256>` over
 * the upload URL's path and the expiry, keyed with the endpoint's `downloads.linkSecret`. The path
 * names the endpoint, its params and the upload id, so a link for one upload never opens another;
 * other query parameters (`download=1`) are not signed and change nothing but the presentation.
 */

const VERSION = 'tusport-link-v1';
const SIG = /^[A-Za-z0-9_-]{43}$/;
const EXPIRES = /^\d{1,12}$/;

export interface SignDownloadLinkOptions {
  /** The upload URL (absolute), as the upload's client got it in `Location`. */
  url: string;
  /** The endpoint's `downloads.linkSecret`. */
  secret: string;
  /** Lifetime in milliseconds (rounded up to whole seconds)... */
  expiresIn?: number;
  /** ...or an absolute expiry. Exactly one of the two. */
  expiresAt?: Date;
  /**
   * A path prefix that a reverse proxy strips before tusport sees the request (the path part of
   * `server.publicUrl`): it is not part of what tusport verifies.
   */
  stripPrefix?: string;
  /** For tests: the current time in ms. */
  now?: number;
}

/** A URL that downloads the upload without the endpoint's auth until it expires. */
export function signDownloadLink(options: SignDownloadLinkOptions): string {
  const { secret, now = Date.now() } = options;
  if (!secret) throw new Error('a link secret is required');
  const url = new URL(options.url);
  if ((options.expiresIn === undefined) === (options.expiresAt === undefined)) throw new Error('give exactly one of expiresIn and expiresAt');
  const expires = options.expiresAt ? Math.floor(options.expiresAt.getTime() / 1000) : Math.ceil((now + (options.expiresIn ?? 0)) / 1000);
  if (!Number.isSafeInteger(expires) || expires * 1000 <= now) throw new Error('the link must expire in the future');
  let pathname = url.pathname;
  const strip = options.stripPrefix?.replace(/\/+$/, '');
  if (strip) {
    if (!pathname.startsWith(`${strip}/`)) throw new Error(`the URL's path does not start with ${strip}`);
    pathname = pathname.slice(strip.length);
  }
  url.searchParams.delete('expires');
  url.searchParams.delete('sig');
  url.searchParams.set('expires', String(expires));
  url.searchParams.set('sig', mac(secret, canonicalPath(pathname), expires));
  return url.toString();
}

/** A request carrying link parameters (tusport then checks the link instead of the endpoint's auth). */
export function linkParameters(query: unknown): { expires: string; sig: string } | undefined {
  const { expires, sig } = (query ?? {}) as Record<string, unknown>;
  if (sig === undefined && expires === undefined) return undefined;
  return { expires: typeof expires === 'string' ? expires : '', sig: typeof sig === 'string' ? sig : '' };
}

/**
 * Check a link for `pathname` (as tusport routes it). Throws 403 TUSPORT_ERR_LINK_INVALID
 * (malformed, tampered, for another URL, or longer-lived than `maxAgeMs` allows) or
 * TUSPORT_ERR_LINK_EXPIRED; resolves to the expiry in ms. The signature is compared in constant time.
 */
export function verifyDownloadLink(pathname: string, link: { expires: string; sig: string }, secret: string, maxAgeMs: number, now = Date.now()): number {
  if (!EXPIRES.test(link.expires) || !SIG.test(link.sig)) throw new FileErrors.LINK_INVALID('expected expires=<unix seconds>&sig=<signature>');
  const expires = Number(link.expires);
  let path: string;
  try {
    path = canonicalPath(pathname);
  } catch {
    throw new FileErrors.LINK_INVALID('the signature does not match this URL');
  }
  const expected = Buffer.from(mac(secret, path, expires), 'base64url');
  const given = Buffer.from(link.sig, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new FileErrors.LINK_INVALID('the signature does not match this URL');
  const expiresAt = expires * 1000;
  if (expiresAt <= now) throw new FileErrors.LINK_EXPIRED(new Date(expiresAt).toISOString());
  if (expiresAt - now > maxAgeMs) throw new FileErrors.LINK_INVALID('it expires later than this endpoint\'s downloads.linkMaxAge allows');
  return expiresAt;
}

function mac(secret: string, path: string, expires: number): string {
  return createHmac('sha256', secret).update(`${VERSION}\n${path}\n${expires}`).digest('base64url');
}

/** One spelling per path: each segment decoded, NFC (as tusport normalises params), re-encoded. */
function canonicalPath(pathname: string): string {
  return pathname
    .split('/')
    .map((segment) => encodeURIComponent(decodeURIComponent(segment).normalize('NFC')))
    .join('/');
}
