import type { FastifyRequest } from 'fastify';
import type { ProtocolHandler } from '../endpoints/runtime.js';
import { clientGoneSignal } from '../endpoints/runtime.js';
import { Errors } from '../errors.js';
import { checkClaimOptions, claimUpload, type ClaimOptions, lockForClaim } from './claim.js';
import { FileErrors } from './errors.js';

const MAX_BODY_BYTES = 16 * 1024;

/**
 * `POST <upload URL>/claim`, body `{}` or `{ "path": "...", "metadata": { ... } }` (JSON, optional):
 * the owner (or an admin) claims a finished upload; 200 with where it is now. Someone else's
 * upload is 404, as everywhere (its existence is not revealed).
 */
export const handleClaim: ProtocolHandler = async (runtime, context, request, reply) => {
  const id = context.uploadId;
  if (!id) throw new Errors.UPLOAD_NOT_FOUND();
  const options = await readClaimBody(request);
  checkClaimOptions(runtime, options);
  // Only once the request may see the upload is its lock asked for (see lockVisibleUpload).
  await runtime.store.authorize(id, context);
  const lock = await lockForClaim(runtime, id, clientGoneSignal(reply));
  const result = await claimUpload(runtime, context, id, options, context.owner, lock);
  reply.header('Cache-Control', 'no-store');
  return reply.code(200).send({ ...result, url: `${context.origin}${context.basePath}/${id}` });
};

/** The JSON body, read here: tusport's routes leave bodies unparsed (tus bodies are streams). */
async function readClaimBody(request: FastifyRequest): Promise<ClaimOptions> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.raw) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new FileErrors.CLAIM_INVALID(`the body may be at most ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  const type = request.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== undefined && type !== 'application/json') throw new FileErrors.CLAIM_INVALID('the body must be JSON (Content-Type: application/json)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FileErrors.CLAIM_INVALID('the body is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new FileErrors.CLAIM_INVALID('the body must be a JSON object');
  const { path, metadata, ...rest } = parsed as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new FileErrors.CLAIM_INVALID(`unknown field ${JSON.stringify(unknown[0])} (expected path, metadata)`);
  return { path: path as string | undefined, metadata: metadata as Record<string, string> | undefined };
}
