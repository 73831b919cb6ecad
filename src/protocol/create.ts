import type { EndpointRuntime, ProtocolHandler } from '../endpoints/runtime.js';
import { newUploadId } from '../endpoints/tus-server.js';
import { checkCreationPolicy, creationMetadata } from '../policy/creation.js';
import { integerHeader } from './preconditions.js';

/**
 * POST (creation): the endpoint's policy and the principal's quota decide first, with tusport's
 * own errors; then @tus/server creates the upload (metadata, naming through the context's id,
 * creation-with-upload). A quota slot taken here is given back if creation does not succeed.
 */
export function handleCreate(create: ProtocolHandler): ProtocolHandler {
  return async (runtime: EndpointRuntime, context, request, reply) => {
    const metadata = creationMetadata(request);
    checkCreationPolicy(runtime.config.policy, runtime.accept, metadata);
    context.newUploadId = newUploadId();
    await runtime.quota.reserve(context.owner, context.newUploadId, integerHeader(request, 'upload-length') ?? 0);
    try {
      const result = await create(runtime, context, request, reply);
      if (reply.statusCode !== 201) runtime.quota.release(context.owner, context.newUploadId);
      return result;
    } catch (error) {
      runtime.quota.release(context.owner, context.newUploadId);
      throw error;
    }
  };
}
