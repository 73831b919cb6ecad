import { z } from 'zod';
import { HookCallError } from './errors.js';

/**
 * What a hook may answer: tusd v2's `HookResponse`. Every field is optional, unknown fields are
 * ignored (as tusd does), and an empty answer means "go ahead, change nothing". Anything that is
 * not this shape (not JSON, wrong types, a header that would break the HTTP response, an upload
 * id outside the id rules) is a hook error, never a crash and never half-applied.
 */

/** The same rule as an upload URL's id segment (src/endpoints/routes.ts). */
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
// tus metadata keys travel in Upload-Metadata as `key base64,key base64`.
const METADATA_KEY = /^[\x21-\x2b\x2d-\x7e]+$/;

const HttpResponseSchema = z.object({
  // 0 is Go's zero value: "not set".
  StatusCode: z
    .number()
    .int()
    .refine((code) => code === 0 || (code >= 200 && code <= 599), 'must be 200-599 (or 0: unset)')
    .optional(),
  Body: z.string().optional(),
  Header: z
    .record(z.string().regex(HEADER_NAME, 'not a valid header name'), z.string().regex(HEADER_VALUE, 'not a valid header value'))
    .nullish(),
});

export const HookResponseSchema = z.object({
  HTTPResponse: HttpResponseSchema.nullish(),
  RejectUpload: z.boolean().optional(),
  RejectTermination: z.boolean().optional(),
  StopUpload: z.boolean().optional(),
  ChangeFileInfo: z
    .object({
      // tusd treats "" as "no change" (Go's zero value).
      ID: z.union([z.literal(''), z.string().regex(UPLOAD_ID, 'must be 1-128 characters of A-Z a-z 0-9 _ -')]).optional(),
      MetaData: z.record(z.string().regex(METADATA_KEY, 'metadata keys must be printable ASCII without spaces or commas'), z.string()).nullish(),
    })
    .nullish(),
});

export type HookResponse = z.output<typeof HookResponseSchema>;
export type HookHttpResponse = z.output<typeof HttpResponseSchema>;
/** What a library function hook may return (nothing at all means "go ahead"). */
export type HookResult = z.input<typeof HookResponseSchema> | undefined | void;

/**
 * Headers only tusport may set, whatever a hook answers: framing and hop-by-hop headers (a 201
 * promising `Content-Length: 1000` and sending nothing leaves the client waiting for ever), the
 * tus protocol's own (a wrong Upload-Offset or Location misleads the client about its upload), and
 * CORS (the endpoint's policy, not a hook's). Dropped with a warning, not refused: the hook's
 * decision (accept, reject, its status and body) still stands, and the client still gets a
 * well-formed answer.
 */
const RESERVED_HEADER = /^(content-length|content-encoding|transfer-encoding|connection|keep-alive|upgrade|trailer|te|proxy-[a-z-]*|location|tus-[a-z-]*|upload-[a-z-]*|access-control-[a-z-]*)$/i;

/** The answer without the headers a hook may not set, and the names of those it tried to. */
export function withoutReservedHeaders(response: HookResponse): { response: HookResponse; dropped: string[] } {
  const header = response.HTTPResponse?.Header;
  if (!header) return { response, dropped: [] };
  const dropped = Object.keys(header).filter((name) => RESERVED_HEADER.test(name));
  if (dropped.length === 0) return { response, dropped };
  const kept = Object.fromEntries(Object.entries(header).filter(([name]) => !RESERVED_HEADER.test(name)));
  return { response: { ...response, HTTPResponse: { ...response.HTTPResponse, Header: kept } }, dropped };
}

/** Validate a decoded answer (a function hook's return value, or parsed JSON). */
export function validateHookResponse(value: unknown): HookResponse {
  if (value === undefined || value === null) return {};
  const result = HookResponseSchema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new HookCallError('invalid', `answered ${issue ? `${issue.path.join('.') || 'JSON'}: ${issue.message}` : 'an invalid response'}`);
}

/** Parse a transport's text answer (HTTP body, command stdout); blank means `{}`. */
export function parseHookResponse(text: string): HookResponse {
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new HookCallError('invalid', 'answered something that is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new HookCallError('invalid', 'answered JSON that is not an object');
  return validateHookResponse(parsed);
}
