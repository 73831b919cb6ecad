import type { FastifyRequest } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';

/**
 * The hook events and the JSON a hook receives for each: tusd v2's `HookRequest`
 * (`{ Type, Event: { Upload, HTTPRequest } }`, field names and types as tusd marshals them), so
 * receivers written for tusd accept it unchanged, plus tusport's own fields under a separate
 * top-level `Tusport` key that tusd receivers ignore.
 */

export const HOOK_EVENTS = ['pre-create', 'post-create', 'post-receive', 'pre-finish', 'post-finish', 'pre-terminate', 'post-terminate'] as const;
export type HookEventName = (typeof HOOK_EVENTS)[number];

/** Events whose hooks run before tusport answers and may change the outcome. */
export const BLOCKING_EVENTS: ReadonlySet<HookEventName> = new Set(['pre-create', 'pre-finish', 'pre-terminate']);
/** Events delivered at least once through the durable outbox. */
export const DURABLE_EVENTS: ReadonlySet<HookEventName> = new Set(['post-create', 'post-finish', 'post-terminate']);

/** tusd's default set (`-hooks-enabled-events`): a tusd receiver that knows nothing of pre-finish/pre-terminate keeps working. */
export const DEFAULT_HOOK_EVENTS: HookEventName[] = ['pre-create', 'post-create', 'post-receive', 'post-finish', 'post-terminate'];
/** Claims of the principal that reach hooks unless a hook lists its own (never the token itself). */
export const DEFAULT_PRINCIPAL_CLAIMS = ['sub', 'iss', 'aud', 'email', 'name', 'preferred_username', 'groups', 'roles'];
/** Request headers left out of `HTTPRequest.Header` unless a hook's `forwardHeaders` names them. */
const CREDENTIAL_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

/** tusd's `FileInfo`. */
export interface HookUpload {
  /** Empty in pre-create: the upload does not exist yet. */
  ID: string;
  /** 0 while the length is deferred. */
  Size: number;
  SizeIsDeferred: boolean;
  Offset: number;
  MetaData: Record<string, string>;
  IsPartial: boolean;
  IsFinal: boolean;
  PartialUploads: string[] | null;
  /** Where the bytes are: disk `{ Type: "filestore", Path, InfoPath }`; null before creation. */
  Storage: Record<string, string> | null;
}

/** tusd's `HTTPRequest`: the client request that caused the event. */
export interface HookHttpRequest {
  Method: string;
  URI: string;
  RemoteAddr: string;
  /** Canonical header names, every value a list (Go's `http.Header`). */
  Header: Record<string, string[]>;
}

/** tusport's own fields (ignored by tusd receivers). */
export interface HookTusportInfo {
  Version: 1;
  /** The endpoint's URL template. */
  Endpoint: string;
  /** The template params the upload lives under. */
  Params: Record<string, string>;
  /** Who made the request: id, admin flag and the configured subset of claims (never the token). */
  Principal: { ID: string; Admin: boolean; Claims: Record<string, unknown> } | null;
  /** X-Request-Id of the request that caused the event. */
  RequestID: string | null;
  /** The upload's URL path (null in pre-create). */
  URL: string | null;
  /** Where `finalize` moved the file, relative to the store (disk) or the key (S3); null otherwise. */
  FinalPath: string | null;
}

/** The JSON body every hook receives. */
export interface HookRequest {
  Type: HookEventName;
  Event: { Upload: HookUpload; HTTPRequest: HookHttpRequest };
  Tusport: HookTusportInfo;
}

/** What the payload builder needs to know of an upload. */
export interface UploadSnapshot {
  id: string;
  size: number | undefined;
  offset: number;
  metadata: Record<string, string | null> | undefined;
  storage: Record<string, string> | null;
  finalPath?: string | undefined;
  /** Concatenation: a final upload names its partial uploads (partial ones fire no hooks). */
  concat?: 'partial' | { final: string[] } | undefined;
}

export interface PayloadOptions {
  /** Headers to keep even though they carry credentials (`forwardHeaders`). */
  forwardHeaders: readonly string[];
  principalClaims: readonly string[];
  /** The endpoint's `auth.tokenFrom.query`: its value is redacted from `URI`. */
  tokenQuery?: string | undefined;
}

export function buildHookRequest(type: HookEventName, context: UploadContext, upload: UploadSnapshot, options: PayloadOptions): HookRequest {
  const principal = context.principal;
  return {
    Type: type,
    Event: {
      Upload: {
        ID: type === 'pre-create' ? '' : upload.id,
        Size: upload.size ?? 0,
        SizeIsDeferred: upload.size === undefined,
        Offset: upload.offset,
        MetaData: Object.fromEntries(Object.entries(upload.metadata ?? {}).map(([key, value]) => [key, value ?? ''])),
        IsPartial: upload.concat === 'partial',
        IsFinal: typeof upload.concat === 'object',
        PartialUploads: typeof upload.concat === 'object' ? [...upload.concat.final] : null,
        Storage: upload.storage,
      },
      HTTPRequest: httpRequestOf(context.request, context.uploadId !== undefined, options, context.clientAddress),
    },
    Tusport: {
      Version: 1,
      Endpoint: context.endpoint,
      Params: { ...context.params },
      Principal: principal ? { ID: principal.id, Admin: principal.admin, Claims: pick(principal.claims, options.principalClaims) } : null,
      RequestID: context.request ? String(context.request.id) : null,
      URL: type === 'pre-create' ? null : `${context.basePath}/${upload.id}`,
      FinalPath: upload.finalPath ?? null,
    },
  };
}

function httpRequestOf(request: FastifyRequest | undefined, onUploadUrl: boolean, options: PayloadOptions, clientAddress: string | undefined): HookHttpRequest {
  if (!request) return { Method: '', URI: '', RemoteAddr: '', Header: {} };
  const override = request.headers['x-http-method-override'];
  // tusd reports the method the request stands for; for POST + X-HTTP-Method-Override that is the override.
  const method = request.method === 'POST' && onUploadUrl && typeof override === 'string' ? override.toUpperCase() : request.method;
  const forwarded = new Set(options.forwardHeaders.map((name) => name.toLowerCase()));
  const header: Record<string, string[]> = {};
  const rawHeaders = request.raw.rawHeaders;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] ?? '').toLowerCase();
    if (CREDENTIAL_HEADERS.has(lower) && !forwarded.has(lower)) continue;
    const name = canonicalHeaderName(lower);
    (header[name] ??= []).push(rawHeaders[i + 1] ?? '');
  }
  // The client as trusted proxies (server.trustProxy) name it: X-Forwarded-For, else Forwarded `for`.
  const address = clientAddress ?? request.ip;
  const port = request.socket?.remotePort;
  return {
    Method: method,
    URI: redactQuery(request.url, options.tokenQuery),
    RemoteAddr: address.includes(':') ? `[${address}]:${port ?? 0}` : `${address}:${port ?? 0}`,
    Header: header,
  };
}

/** Go's `http.CanonicalHeaderKey`: `upload-length` becomes `Upload-Length`. */
export function canonicalHeaderName(name: string): string {
  return name.toLowerCase().replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());
}

function redactQuery(url: string, parameter: string | undefined): string {
  const search = url.indexOf('?');
  if (!parameter || search === -1) return url;
  const query = url
    .slice(search + 1)
    .split('&')
    .map((pair) => (decodeURIComponentSafe(pair.split('=')[0] ?? '') === parameter ? `${pair.split('=')[0]}=[redacted]` : pair))
    .join('&');
  return `${url.slice(0, search)}?${query}`;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}

function pick(claims: Record<string, unknown>, names: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of names) if (Object.hasOwn(claims, name)) out[name] = claims[name];
  return out;
}

/** The idempotency key of one event of one upload; progress events also carry their offset. */
export function idempotencyKey(request: HookRequest, plannedId?: string): string {
  const id = request.Event.Upload.ID || plannedId || '';
  return request.Type === 'post-receive' ? `${id}:${request.Type}:${request.Event.Upload.Offset}` : `${id}:${request.Type}`;
}
