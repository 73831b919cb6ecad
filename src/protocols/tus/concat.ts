import type { FastifyRequest } from 'fastify';
import type { UploadContext } from '../../endpoints/context.js';
import { UPLOAD_ID } from '../../endpoints/routes.js';
import type { ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import { creationMetadata } from '../../policy/creation.js';
import type { StoredUpload } from '../../stores/backend.js';
import { ConcatErrors, createFinalUpload, partialsOf } from '../../uploads/concat.js';

export type UploadConcat = { partial: true } | { final: string[] };

/**
 * tus `concatenation`: `Upload-Concat: partial`, or `final;<url> <url> ...` (URLs absolute or
 * relative, separated by spaces). Undefined when the header is absent; 400 when it is malformed.
 */
export function parseUploadConcat(request: FastifyRequest): UploadConcat | undefined {
  const value = request.headers['upload-concat'];
  if (value === undefined) return undefined;
  if (value === 'partial') return { partial: true };
  const urls = typeof value === 'string' && value.startsWith('final;') ? value.slice('final;'.length).trim().split(/ +/).filter(Boolean) : [];
  if (urls.length === 0) {
    throw new Errors.INVALID_HEADER('Upload-Concat', `${JSON.stringify(String(value).slice(0, 64))} (expected "partial" or "final;" followed by the partial uploads' URLs, separated by spaces)`);
  }
  return { final: urls };
}

/**
 * POST with `Upload-Concat: final;...`: the URLs resolved to upload ids of this endpoint URL
 * (404 for any other), then `createFinalUpload` (src/uploads/concat.ts). The preconditions made
 * sure the request declares no length and carries no body. Answers 201 with the Location of the
 * final upload, which is complete.
 */
export function handleCreateFinal(urls: readonly string[]): ProtocolHandler {
  return async (runtime, context, request, reply) => {
    const ids = urls.map((url) => partialIdOf(context, request, url));
    const created = await createFinalUpload(runtime, context, { metadata: creationMetadata(request), partials: ids });
    for (const [name, value] of Object.entries({ ...created.headers, ...created.result })) reply.header(name, value);
    reply.header('Location', `${context.origin}${context.basePath}/${created.stored.sidecar.id}`);
    return reply.code(201).send();
  };
}

/**
 * The upload id a partial upload's URL names, if that URL is an upload URL of the request's own
 * endpoint and params: `<basePath>/<id>`, as given in Location (with `server.publicUrl`'s path
 * prefix) or as the request reached us. Scheme and host are not compared: behind proxies they
 * differ legitimately, and the id is still looked up only among this endpoint's uploads.
 */
function partialIdOf(context: UploadContext, request: FastifyRequest, url: string): string {
  let path;
  try {
    path = new URL(url, `http://localhost${request.url}`).pathname;
  } catch {
    throw new ConcatErrors.PARTIAL_NOT_FOUND(JSON.stringify(url.slice(0, 200)));
  }
  const slash = path.lastIndexOf('/');
  const id = path.slice(slash + 1);
  const directory = path.slice(0, slash);
  const publicPrefix = URL.canParse(context.origin) ? new URL(context.origin).pathname.replace(/\/+$/, '') : '';
  if (!UPLOAD_ID.test(id) || (directory !== context.basePath && directory !== publicPrefix + context.basePath)) {
    throw new ConcatErrors.PARTIAL_NOT_FOUND(JSON.stringify(url.slice(0, 200)));
  }
  return id;
}

/** What HEAD says in Upload-Concat: `partial`, or `final;` and the partial uploads' URLs; undefined otherwise. */
export function uploadConcatHeader(context: UploadContext, stored: StoredUpload): string | undefined {
  if (stored.sidecar.tusport.concat === 'partial') return 'partial';
  const partials = partialsOf(stored);
  return partials && `final;${partials.map((id) => `${context.origin}${context.basePath}/${id}`).join(' ')}`;
}
