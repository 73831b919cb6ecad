import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { UploadContext } from '../../endpoints/context.js';
import { resolveUploadContext } from '../../endpoints/routes.js';
import type { EndpointRuntime } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import { lockVisibleUpload } from '../../uploads/lock.js';
import { storageError } from '../../uploads/storage-errors.js';
import type { S3StoreConfig } from '../../stores/s3/schema.js';
import { createDirectUpload, type DirectRequest } from './create.js';
import { DirectErrors } from './errors.js';
import { completeMultipart, findOwnUpload, finishDirectUpload, sizeLimit } from './finish.js';
import { completePost, POST_SUFFIX, stagingKey } from './staging.js';
import type { DirectS3 } from './s3.js';
import { POST_MAX_BYTES } from './limits.js';
import type { DirectConfig } from './schema.js';

const MAX_PARTS = 10_000;
const name = z.string().max(1024);
const StartBody = z.object({
  filename: name.default(''),
  type: name.default(''),
  metadata: z.record(z.string().max(256), z.unknown()).default({}),
  size: z.int().min(0).optional(),
});
const CompleteBody = z.object({
  parts: z.array(z.strictObject({ PartNumber: z.int().min(1).max(MAX_PARTS), ETag: z.string().min(1).max(256) })).min(1).max(MAX_PARTS),
});

/**
 * The routes `@uppy/aws-s3` calls in Companion mode (`companionEndpoint` = the endpoint's URL), with
 * Companion's paths and JSON shapes, under one endpoint:
 *
 *   GET    s3/params                           presigned POST for one small file
 *   POST   s3/params/:uploadId/complete        (tusport's) the POSTed file is in: check and finish it
 *                                              (a finished multipart upload answers the same)
 *   POST   s3/multipart                        start a multipart upload  -> { key, uploadId, bucket }
 *   GET    s3/multipart/:multipartId?key=      parts S3 holds            -> [{ PartNumber, ETag, Size }]
 *   GET    s3/multipart/:multipartId/:n?key=   URL to PUT part n         -> { url, expires }
 *   POST   s3/multipart/:multipartId/complete  join the parts, check and finish -> { location, key, bucket }
 *   DELETE s3/multipart/:multipartId?key=      abort                     -> {}
 *
 * Each is authenticated with the endpoint's auth (Uppy's fetch carries cookies, not an Authorization
 * header: use `tokenFrom.cookie` for browsers). Keys are tusport's, under the principal's prefix.
 */
export function mountDirect(app: FastifyInstance, runtime: EndpointRuntime, direct: DirectConfig): void {
  const base = `${runtime.template.routePath}/s3`;
  const prefix = app.prefix.replace(/\/+$/, '');
  const store = runtime.config.store as S3StoreConfig;
  let loading: Promise<DirectS3> | undefined;
  // The SDK and the presigners load with the first direct request, not with the server.
  const s3 = () => (loading ??= import('./s3.js').then(({ DirectS3 }) => new DirectS3(store)));
  const lifetimeMs = direct.urlLifetime;

  const preHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const context = resolveUploadContext(runtime, request, prefix);
    request.uploadContext = context;
    context.principal = await runtime.authenticate(request, reply, context.params);
    context.owner = context.principal?.id ?? null;
  };
  type Handler = (context: UploadContext, s3: DirectS3, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
  const handle = (handler: Handler) => async (request: FastifyRequest, reply: FastifyReply) => {
    const context = request.uploadContext;
    if (!context) throw new Error('upload context missing');
    return handler(context, await s3(), request, reply);
  };
  const options = { preHandler, exposeHeadRoute: false };
  const multipartId = (request: FastifyRequest) => (request.params as { multipartId: string }).multipartId;
  const query = (request: FastifyRequest) => request.query as Record<string, string | undefined>;

  app.get(`${base}/params`, options, handle(async (context, s3, request) => {
    const started = await createDirectUpload(runtime, context, paramsRequest(query(request)), 'post');
    const maxBytes = Math.min(sizeLimit(runtime, started.sidecar), POST_MAX_BYTES);
    // The declared type, held by the policy: the type checks saw it, and the object is served with it.
    const declared = started.sidecar.metadata?.filetype;
    const contentType = declared || runtime.accept || started.sidecar.tusport.accept ? String(declared ?? '') : undefined;
    try {
      // The form writes the staging key, never `started.key` (staging.ts).
      return { ...(await s3.presignPost(stagingKey(started.key), { maxBytes, contentType, lifetimeMs })), key: started.key, id: started.id };
    } catch (error) {
      throw storageError(error, context.log, started.id);
    }
  }));

  app.post(`${base}/params/:uploadId/complete`, { ...options, preHandler: [idOfStagingKey, preHandler] }, handle(async (context, s3, _request, reply) => {
    const own = await findOwnUpload(runtime, context, s3, context.place + (context.uploadId ?? ''));
    // A finished multipart upload answers too: an app may call this after every Uppy upload-success.
    const settle = own.sidecar.tusport.direct === 'post' ? completePost(context, s3, own) : async () => Promise.reject(new DirectErrors.WRONG_MODE('multipart'));
    return finishDirectUpload(runtime, context, s3, own, reply, settle);
  }));

  app.post(`${base}/multipart`, options, handle(async (context, s3, request) => {
    const body = parse(StartBody, request.body ?? {});
    const started = await createDirectUpload(runtime, context, { ...body, metadata: stringValues(body.metadata) }, 'multipart');
    return { key: started.key, uploadId: started.multipartId, bucket: s3.bucket, id: started.id, partSize: direct.partSize ?? store.partSize };
  }));

  app.get(`${base}/multipart/:multipartId`, options, handle(async (context, s3, request) => {
    const own = await findOwnUpload(runtime, context, s3, query(request).key, multipartId(request));
    if (own.sidecar.tusport.completed_at !== undefined) throw new Errors.UPLOAD_NOT_FOUND();
    try {
      return await s3.listParts(own.key, own.multipartId);
    } catch (error) {
      throw storageError(error, context.log, own.id);
    }
  }));

  app.get(`${base}/multipart/:multipartId/:partNumber`, options, handle(async (context, s3, request) => {
    const raw = (request.params as { partNumber: string }).partNumber;
    const partNumber = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN;
    if (!(partNumber >= 1 && partNumber <= MAX_PARTS)) throw new DirectErrors.BAD_PART_NUMBER(JSON.stringify(raw.slice(0, 20)));
    const own = await findOwnUpload(runtime, context, s3, query(request).key, multipartId(request));
    if (own.sidecar.tusport.direct !== 'multipart') throw new DirectErrors.WRONG_MODE('presigned POST');
    if (own.sidecar.tusport.completed_at !== undefined) throw new Errors.UPLOAD_NOT_FOUND();
    return s3.signPart(own.key, own.multipartId, partNumber, lifetimeMs);
  }));

  app.post(`${base}/multipart/:multipartId/complete`, { ...options, bodyLimit: 4 * 1024 * 1024 }, handle(async (context, s3, request, reply) => {
    const { parts } = parse(CompleteBody, request.body);
    const own = await findOwnUpload(runtime, context, s3, query(request).key, multipartId(request));
    if (own.sidecar.tusport.direct !== 'multipart') throw new DirectErrors.WRONG_MODE('presigned POST');
    return finishDirectUpload(runtime, context, s3, own, reply, completeMultipart(runtime, context, s3, own, parts));
  }));

  app.delete(`${base}/multipart/:multipartId`, options, handle(async (context, s3, request, reply) => {
    const own = await findOwnUpload(runtime, context, s3, query(request).key, multipartId(request));
    const lock = await lockVisibleUpload(runtime, context, own.id, reply);
    try {
      const stored = await runtime.store.require(own.id, context);
      // A finished upload is a file now: DELETE on its upload URL removes it, not this route.
      if (stored.sidecar.tusport.completed_at !== undefined) throw new Errors.UPLOAD_NOT_FOUND();
      await runtime.hooks.preTerminate(context, stored);
      await runtime.store.removeStored(context, stored);
      await runtime.quota.release(stored.sidecar.tusport.owner, own.id);
      await runtime.hooks.notify('post-terminate', context, stored);
    } finally {
      await lock.release();
    }
    context.log.info({ uploadId: own.id }, 'direct upload aborted');
    return {};
  }));
}

/**
 * Uppy reports the key its form wrote, the staging key `<prefix><id>.post`, so an app that takes the
 * id from it (`key.split('/').pop()`) may send that: it names the same upload (ids have no dots).
 */
async function idOfStagingKey(request: FastifyRequest): Promise<void> {
  const params = request.params as { uploadId?: string };
  if (params.uploadId?.endsWith(POST_SUFFIX)) params.uploadId = params.uploadId.slice(0, -POST_SUFFIX.length);
}

/** `GET s3/params?filename=&type=&metadata[name]=value&size=` (Uppy's query) as a creation request. */
function paramsRequest(query: Record<string, string | undefined>): DirectRequest {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(query)) {
    const match = /^metadata\[(.{1,256})\]$/.exec(key);
    if (match?.[1] && typeof value === 'string') metadata[match[1]] = value;
  }
  const size = query.size === undefined ? undefined : /^\d{1,16}$/.test(query.size) ? Number(query.size) : NaN;
  if (Number.isNaN(size)) throw new DirectErrors.BAD_REQUEST('size must be a whole number of bytes');
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 1024) : '');
  return { filename: text(query.filename), type: text(query.type), metadata, size };
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new DirectErrors.BAD_REQUEST(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'not valid'}`);
}

/** Uppy sends its file.meta (strings, numbers, null); sidecar metadata holds strings. */
function stringValues(metadata: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) {
    if (value === null || value === undefined || typeof value === 'object') continue;
    out[key] = String(value);
  }
  return out;
}
