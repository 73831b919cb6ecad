import type { IncomingMessage } from 'node:http';
import { ERRORS, Server } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { NodeRequest } from 'srvx/node';
import { type CodedError, Errors, isCodedError, isTusErrorShape, toTusError } from '../errors.js';
import { isStorageFailure, storageError } from '../protocol/storage-errors.js';
import { newUploadId } from '../uploads/ids.js';
import { currentUploadContext, runWithUploadContext, type UploadContext } from './context.js';
import type { EndpointRuntime, ProtocolHandler } from './runtime.js';

/** Opaque, unguessable, one URL segment, newest sorting first (src/uploads/ids.ts). */
export { newUploadId } from '../uploads/ids.js';

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
        return { headers: await runtime.complete(context, stored, { creating: true }) };
      } catch (error) {
        // A hook's answer (its body and headers) goes out through Fastify, like everywhere else.
        if (isHookError(error)) escalated.set(context, error);
        // @tus/server answers with `status_code`/`body` of what its hooks throw.
        throw isCodedError(error) ? toTusError(error) : error;
      }
    },
    onResponseError: (_req, error) => {
      // Our own errors (a quota or chunk limit hit by a creation body, a taken id), and what a
      // store failure or a lock timeout means, are answered by Fastify's error handler in
      // tusport's JSON format with their code, not as @tus/server's plain text.
      if (isCodedError(error)) return escalate(error);
      if (isTusErrorShape(error)) {
        // MemoryLocker's lock timeout is answered 500 by @tus/server; it is contention, not a fault.
        if (error === ERRORS.ERR_LOCK_TIMEOUT) return escalate(new Errors.LOCKED());
        if (error.status_code >= 500) currentUploadContext().log.error({ err: error }, 'tus request failed');
        return undefined;
      }
      const coded = storageError(error, currentUploadContext().log, currentUploadContext().newUploadId);
      // A real store failure (a filesystem errno, an S3 error) is answered as tusport's JSON; what
      // else ends up here (a request stream cut mid-body) keeps @tus/server's own short answer.
      return isStorageFailure(error) ? escalate(coded) : { status_code: coded.statusCode ?? 503, body: `${coded.message}\n` };
    },
  });
}

/** Errors raised inside @tus/server that Fastify's error handler answers instead of it. */
const escalated = new WeakMap<UploadContext, Error>();

/** Hand `error` to Fastify's error handler (see `delegateTo`); @tus/server's own answer is dropped. */
function escalate(error: CodedError): { status_code: number; body: string } {
  escalated.set(currentUploadContext(), error);
  return { status_code: error.statusCode, body: `${error.message}\n` };
}

function isHookError(error: unknown): error is CodedError {
  return isCodedError(error) && error.code.startsWith('TUSPORT_ERR_HOOK_');
}

/** Let @tus/server answer, within the upload context, and send its answer through Fastify. */
export function delegateTo(server: Server): ProtocolHandler {
  return async (_runtime, context, request: FastifyRequest, reply: FastifyReply) => {
    hideForwardedProto(request.raw);
    const webRequest = new NodeRequest({ req: request.raw, res: reply.raw });
    const response = await runWithUploadContext(context, () => server.handleWeb(webRequest));
    const error = escalated.get(context);
    if (error) {
      await response.body?.cancel();
      throw error;
    }
    await context.beforeAnswer?.(response.status);
    // @tus/server sets CORS headers of its own; @fastify/cors already set ours on the reply, and
    // exactly one Access-Control-Allow-Origin may go out.
    for (const name of [...response.headers.keys()]) {
      if (name.startsWith('access-control-')) response.headers.delete(name);
    }
    return reply.send(response);
  };
}

/**
 * The upload context already holds the origin, resolved from X-Forwarded-Proto only when a trusted
 * proxy sent it. @tus/server would still answer 400 to a POST whose X-Forwarded-Proto is not
 * exactly `http` or `https` (`HTTPS`, or `http, https` appended along a proxy chain), even when
 * tusport ignores or has already read the header: it does not get to see it.
 */
function hideForwardedProto(raw: IncomingMessage): void {
  if (raw.headers['x-forwarded-proto'] === undefined) return;
  delete raw.headers['x-forwarded-proto'];
  raw.rawHeaders = raw.rawHeaders.filter((_, i, all) => all[i - (i % 2)]!.toLowerCase() !== 'x-forwarded-proto');
}
