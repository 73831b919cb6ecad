import type { ProtocolHandler } from '../../endpoints/runtime.js';
import { Errors } from '../../errors.js';

/**
 * `POST <upload-url>` with `X-HTTP-Method-Override: PATCH|HEAD|DELETE`, for clients behind
 * proxies or browsers' environments that only allow GET and POST (tus-js-client's
 * `overridePatchMethod`). @tus/server advertises the header but does not implement it.
 */
export function handleMethodOverride(handlers: Partial<Record<string, ProtocolHandler>>): ProtocolHandler {
  return async (runtime, context, request, reply) => {
    const override = request.headers['x-http-method-override'];
    const handler = typeof override === 'string' ? handlers[override.toUpperCase()] : undefined;
    if (!handler) {
      throw new Errors.INVALID_HEADER(
        'X-HTTP-Method-Override',
        `${JSON.stringify(String(override ?? ''))} (POST to an upload URL needs X-HTTP-Method-Override: ${Object.keys(handlers).join(', ')})`,
      );
    }
    return handler(runtime, context, request, reply);
  };
}
