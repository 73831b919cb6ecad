import type { FastifyRequest } from 'fastify';
import type { UploadContext } from '../../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';
import { closeAfterAnswer } from '../../limits/linger.js';
import { acquireUploadLock } from '../../uploads/lock.js';
import { FormErrors } from './errors.js';
import { storeFilePart, type StoredFile } from './store-file.js';

/** Whether a POST to a collection URL is a form upload rather than a tus creation. */
export function isFormPost(runtime: EndpointRuntime, request: FastifyRequest): boolean {
  if (!runtime.config.form || request.method !== 'POST' || request.uploadContext?.uploadId !== undefined) return false;
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  return type === 'multipart/form-data';
}

/** One stored file as the 201 lists it; `url` is what @uppy/xhr-upload takes as the file's uploadURL. */
export interface FormFileAnswer {
  id: string;
  url: string;
  uploadURL: string;
  name: string;
  size: number;
  type: string;
  metadata: Record<string, string | null>;
}

/**
 * POST multipart/form-data: each file part becomes one finished upload of this endpoint.
 *
 * All or nothing: the files are stored as the form is read, but completed (type sniffed again,
 * pre-finish hooks, finalize, post-finish) only once the whole form has arrived and every part
 * passed its limits. If anything fails (a limit, a malformed or cut body, the client gone, a
 * refusal while completing a later file), every file of the request is removed again, completed
 * ones included (they get post-terminate after their post-finish), and the client gets the error:
 * a form POST cannot be resumed, so a client retries the whole form, and half of it kept would be
 * stored twice.
 */
export const handleFormPost: ProtocolHandler = async (runtime, context, request, reply) => {
  const options = runtime.config.form;
  if (!options) throw new Errors.ROUTE_NOT_FOUND(request.method, request.url);
  const declared = request.headers['content-length'];
  if (runtime.config.maxChunkSize !== undefined && declared !== undefined && Number(declared) > runtime.config.maxChunkSize) {
    closeAfterAnswer(reply);
    throw new Errors.CHUNK_TOO_LARGE(runtime.config.maxChunkSize);
  }
  const files: StoredFile[] = [];
  // busboy is loaded by the first form upload, not by every tusport (most serve no form endpoint).
  const { readForm } = await import('./parts.js');
  try {
    await readForm(request.raw, options, async (part) => {
      const file = await storeFilePart(runtime, context, part);
      if (file) files.push(file);
    });
    if (files.length === 0) throw new FormErrors.NO_FILES();
    for (const file of files) {
      await underLock(runtime, file, async () => {
        await runtime.complete(context, file.stored, { creating: true });
      });
    }
  } catch (error) {
    // Answered before the body was read to its end: the rest of it must not be parsed as a request.
    if (!request.raw.complete) closeAfterAnswer(reply);
    await undo(runtime, context, files, (error as Error).message);
    throw error;
  }
  for (const file of files) for (const [name, value] of Object.entries(file.headers)) reply.header(name, value);
  const answers = files.map((file) => answerFor(context, file));
  context.log.info({ uploads: answers.map((answer) => answer.id) }, 'form upload stored');
  // The first file's fields at the top: @uppy/xhr-upload sends one file per request and reads `url`.
  return reply.code(201).send({ ...answers[0], files: answers });
};

function answerFor(context: UploadContext, { stored }: StoredFile): FormFileAnswer {
  const url = `${context.origin}${context.basePath}/${stored.sidecar.id}`;
  const metadata = stored.sidecar.metadata ?? {};
  return {
    id: stored.sidecar.id,
    url,
    uploadURL: url,
    name: metadata.filename ?? '',
    size: stored.offset,
    type: metadata.filetype ?? 'application/octet-stream',
    metadata,
  };
}

/**
 * Completion and removal take the upload's lock, as everywhere: nobody else knows the id yet
 * but an admin listing the endpoint, who could reach it with a DELETE.
 */
async function underLock(runtime: EndpointRuntime, file: StoredFile, work: () => Promise<void>): Promise<void> {
  const lock = await acquireUploadLock(runtime.locker, file.stored.sidecar.id, runtime.lockDrainMs, new AbortController().signal);
  try {
    await work();
  } finally {
    await lock.release();
  }
}

/** Remove every file the request stored (those completion already removed are gone already). */
async function undo(runtime: EndpointRuntime, context: UploadContext, files: StoredFile[], why: string): Promise<void> {
  for (const file of files) {
    const id = file.stored.sidecar.id;
    try {
      await underLock(runtime, file, async () => {
        const stored = await runtime.store.find(id, context);
        await runtime.quota.release(context.owner, id);
        if (!stored) return;
        await runtime.store.removeStored(context, stored);
        // Hook receivers were told it was created (and maybe finished): tell them it is gone.
        await runtime.hooks.notify('post-terminate', context, stored);
        context.log.info({ uploadId: id, why }, 'form upload not stored; its file was removed');
      });
    } catch (error) {
      context.log.error({ uploadId: id, err: error }, 'could not remove a file of a failed form upload; the sweep removes it if it is unfinished');
    }
  }
}
