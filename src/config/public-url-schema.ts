import { z } from 'zod';

const HINT = 'an absolute http(s) URL such as "https://uploads.example.com" or "https://example.com/uploads"';

/**
 * `server.publicUrl`: the base of every URL tusport hands out, as clients must use it. Kept as
 * `scheme://host[:port][/prefix]` without a trailing slash, so `${publicUrl}/files/<id>` is the
 * upload's URL; credentials, a query or a fragment could never be part of one and are refused.
 */
export const publicUrl = () =>
  z.string({ error: `expected ${HINT}` }).transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.issues.push({ code: 'custom', message: `expected ${HINT}, got ${JSON.stringify(value)}`, input: value });
      return z.NEVER;
    }
    const problem =
      url.protocol !== 'http:' && url.protocol !== 'https:'
        ? `must be http or https, not ${url.protocol.slice(0, -1)}`
        : url.username !== '' || url.password !== ''
          ? 'must not contain credentials'
          : url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')
            ? 'must not have a query or fragment'
            : undefined;
    if (problem) {
      ctx.issues.push({ code: 'custom', message: `${problem} (expected ${HINT})`, input: value });
      return z.NEVER;
    }
    return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  });
