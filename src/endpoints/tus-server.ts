import { randomBytes } from 'node:crypto';
import { ERRORS, Server } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NodeRequest } from 'srvx/node';
import { type CodedError, isCodedError, isTusErrorShape, toTusError } from '../errors.js';
import { currentUploadContext, runWithUploadContext, type UploadContext } from './context.js';
import type { EndpointRuntime, ProtocolHandler } from './runtime.js';

/** Opaque, unguessable, one URL segment: 128 random bits. */
export function newUploadId(): string {
  return randomBytes(16).toString('hex');
}

/**
 * The @tus/server instance behind one endpoint: it does creation (POST: length checks, metadata
 * parsing, naming, creation-with-upload) and discovery (OPTIONS). It learns which
 * endpoint params and principal it serves from the upload context, because it never sees our
 * Fastify request.
 */
export function createTusServer(runtime: Omit<EndpointRuntime, 'tusServer'>): Server {
  const { config, store } = runtime;
  return new Server({
    path: runtime.template.source,
    datastore: store,
    locker: runtime.locker,
    lockDrainTimeout: runtime.lockDrainMs,
    ...(config.maxSize !== undefined ? { maxSize: config.maxSize } : {}),
    respectForwardedHeaders: false,
    namingFunction: () => currentUploadContext().newUploadId ?? newUploadId(),
    getFileIdFromRequest: () => currentUploadContext().uploadId,
    generateUrl: (_req, { id }) => {
      const context = currentUploadContext();
      return `${context.origin}${context.basePath}/${id}`;
    },
    // It must return an object, and its `metadata` replaces the upload's: hand it back as is,
    // or what a pre-create hook replaced it with.
    onUploadCreate: async (_req, upload) => ({ metadata: currentUploadContext().newMetadata ?? upload.metadata }),
    onUploadFinish: async (_req, upload) => {
      const context = currentUploadContext();
      const stored = await store.find(upload.id, context);
      if (!stored) return {};
      try {
        return { headers: await runtime.complete(context, stored) };
      } catch (error) {
        // A hook's answer (its body and headers) goes out through Fastify, like everywhere else.
        if (isHookError(error)) escalated.set(context, error);
        // @tus/server answers with `status_code`/`body` of what its hooks throw.
        throw isCodedError(error) ? toTusError(error) : error;
      }
    },
    onResponseError: (_req, error) => {
      if (isCodedError(error) && isTusErrorShape(error)) return { status_code: error.status_code, body: error.body };
      if (isTusErrorShape(error)) {
        // MemoryLocker's lock timeout is answered 500 by @tus/server; it is contention, not a fault.
        if (error === ERRORS.ERR_LOCK_TIMEOUT) return { status_code: 423, body: 'Another request holds this upload; retry shortly\n' };
        if (error.status_code >= 500) currentUploadContext().log.error({ err: error }, 'tus request failed');
        return undefined;
      }
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') return { status_code: 507, body: 'The upload store is out of space; retry later\n' };
      currentUploadContext().log.error({ err: error }, 'tus request failed');
      return { status_code: 503, body: 'The upload store failed; retry later\n' };
    },
  });
}

/** Errors raised inside @tus/server that Fastify's error handler answers instead of it. */
const escalated = new WeakMap<UploadContext, Error>();

function isHookError(error: unknown): error is CodedError {
  return isCodedError(error) && error.code.startsWith('TUSPORT_ERR_HOOK_');
}

/** Let @tus/server answer, within the upload context, and send its answer through Fastify. */
export function delegateTo(server: Server): ProtocolHandler {
  return async (_runtime, context, request: FastifyRequest, reply: FastifyReply) => {
    const webRequest = new NodeRequest({ req: request.raw, res: reply.raw });
    const response = await runWithUploadContext(context, () => server.handleWeb(webRequest));
    const error = escalated.get(context);
    if (error) {
      await response.body?.cancel();
      throw error;
    }
    // @tus/server sets CORS headers of its own; @fastify/cors already set ours on the reply, and
    // exactly one Access-Control-Allow-Origin may go out.
    for (const name of [...response.headers.keys()]) {
      if (name.startsWith('access-control-')) response.headers.delete(name);
    }
    return reply.send(response);
  };
}
