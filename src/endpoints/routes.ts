import { TUS_RESUMABLE } from '@tus/server';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../errors.js';
import { handleCreate } from '../protocols/tus/create.js';
import { handleDelete } from '../protocols/tus/delete.js';
import { handleGet } from '../protocols/tus/get.js';
import { handleHead } from '../protocols/tus/head.js';
import { handleMethodOverride } from '../protocols/tus/method-override.js';
import { handleOptions } from '../protocols/tus/options.js';
import { handlePatch } from '../protocols/tus/patch.js';
import { checkTusPreconditions } from '../protocols/tus/preconditions.js';
import { handleList } from '../files/list.js';
import { acceptDownloadLink } from '../files/link-auth.js';
import { handleClaim } from '../files/claim-route.js';
import { claimSweepHook } from '../files/claim-sweep.js';
import { handleFormPost, isFormPost } from '../protocols/form/handler.js';
import { ietfCreationOnly, ietfOnSend, serveIetf } from '../protocols/ietf/door.js';
import { isIetfRequest } from '../protocols/ietf/headers.js';
import type { UploadContext } from './context.js';
import type { EndpointRuntime, ProtocolHandler } from './runtime.js';
import { checkParamValue, normalizeParamValue, renderUrlPath, TemplateError, type TemplateParams } from './template.js';

// Declared here, where it is set, rather than beside UploadContext: the public types load
// context.ts, and a host app's requests should not appear to carry tusport's internals.
declare module 'fastify' {
  interface FastifyRequest {
    uploadContext: UploadContext | null;
  }
}

/** What a URL may carry as an upload id; anything else is simply not found. */
export const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * Mount one endpoint: the collection URL (POST to create) and upload URLs (HEAD, PATCH,
 * DELETE, GET). Each request first resolves its upload context (params validated, store
 * location rendered inside the store root), is authenticated (not OPTIONS), passes the tus
 * header checks, then reaches its protocol handler (src/protocols/tus/, one per method).
 */
export function mountEndpoint(app: FastifyInstance, runtime: EndpointRuntime): void {
  const base = runtime.template.routePath;
  const uploadUrl = `${base}/:uploadId`;
  // Mounted under a prefix (`register(tusport, { prefix })`), upload URLs carry it.
  const prefix = app.prefix.replace(/\/+$/, '');

  const route = (handler: ProtocolHandler) => async (request: FastifyRequest, reply: FastifyReply) => {
    const context = request.uploadContext;
    if (!context) throw new Error('upload context missing');
    // The IETF resumable-upload draft on the same URLs: its requests name an interop version.
    if (isIetfRequest(request)) return serveIetf(handler, runtime, context, request, reply);
    return handler(runtime, context, request, reply);
  };
  const authenticate = async (request: FastifyRequest, reply: FastifyReply) => {
    const context = resolveUploadContext(runtime, request, prefix);
    request.uploadContext = context;
    // Discovery (OPTIONS) is open, as browsers' preflights must be; everything else is authenticated
    // before any tus header is looked at.
    // A signed download link stands in for the endpoint's auth (src/files/link-auth.ts).
    if (request.method !== 'OPTIONS' && !acceptDownloadLink(runtime, request, context)) {
      context.principal = await runtime.authenticate(request, reply, context.params);
      context.owner = context.principal?.id ?? null;
    }
  };
  const preHandler = async (request: FastifyRequest, reply: FastifyReply) => {
    const ietf = isIetfRequest(request);
    if (!ietf) reply.header('Tus-Resumable', TUS_RESUMABLE);
    await authenticate(request, reply);
    // A form upload is not a tus request, nor is one of the IETF draft: tus's header rules apply to neither.
    if (!ietf && !isFormPost(runtime, request)) checkTusPreconditions(request, reply, runtime.config);
  };
  const options = { preHandler, onSend: ietfOnSend, exposeHeadRoute: false };

  app.post(base, options, route((...args) => (isFormPost(runtime, args[2]) ? handleFormPost(...args) : handleCreate(...args))));
  // PUT to the collection URL creates only through the IETF door (the draft allows any method with content).
  app.put(base, options, route(ietfCreationOnly));
  app.get(base, options, route(handleList));
  app.options(base, options, route(handleOptions));
  app.options(uploadUrl, options, route(handleOptions));
  app.head(uploadUrl, options, route(handleHead));
  app.patch(uploadUrl, options, route(handlePatch));
  app.delete(uploadUrl, options, route(handleDelete));
  app.get(uploadUrl, options, route(handleGet));
  // Clients behind proxies that only pass GET/POST send X-HTTP-Method-Override.
  app.post(uploadUrl, options, route(handleMethodOverride({ PATCH: handlePatch, HEAD: handleHead, DELETE: handleDelete })));
  // Upload now, claim later: a plain JSON POST from the app's form handler, not a tus request.
  if (runtime.config.claim) {
    app.post(`${uploadUrl}/claim`, { preHandler: authenticate, exposeHeadRoute: false }, route(handleClaim));
    runtime.sweepHooks.push(claimSweepHook(runtime));
  }
}

export function resolveUploadContext(runtime: EndpointRuntime, request: FastifyRequest, prefix: string): UploadContext {
  const raw = request.params as Record<string, string | undefined>;
  const params: TemplateParams = {};
  for (const name of runtime.template.params) {
    const value = normalizeParamValue(raw[name] ?? '');
    const problem = checkParamValue(value);
    if (problem) throw new Errors.INVALID_PARAM(name, problem);
    params[name] = value;
  }
  const uploadId = raw.uploadId;
  if (uploadId !== undefined && !UPLOAD_ID.test(uploadId)) throw new Errors.UPLOAD_NOT_FOUND();
  const origin = runtime.origin.baseUrl(request);
  return {
    endpoint: runtime.template.source,
    params,
    place: resolvePlace(runtime, params),
    basePath: `${prefix}${renderUrlPath(runtime.template, params)}`,
    origin,
    clientAddress: runtime.origin.clientAddress(request),
    uploadId,
    principal: null,
    owner: null,
    log: request.log,
    request,
  };
}

function resolvePlace(runtime: EndpointRuntime, params: TemplateParams): string {
  try {
    return runtime.store.backend.place(params);
  } catch (error) {
    // Validated params cannot leave the store root; if a template still manages to, refuse.
    if (error instanceof TemplateError) throw new Errors.INVALID_PARAM(runtime.template.params.join(','), 'leads outside the store');
    throw error;
  }
}
