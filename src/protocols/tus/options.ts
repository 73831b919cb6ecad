import { TUS_VERSION } from '@tus/server';
import type { EndpointRuntime, ProtocolHandler } from '../../endpoints/runtime.js';
import { CHECKSUM_DISCOVERY_HEADERS, CHECKSUM_EXTENSIONS } from './checksum.js';

/** The tus extensions an endpoint serves, as OPTIONS announces them in Tus-Extension. */
export function tusExtensions(runtime: EndpointRuntime): string[] {
  const extensions = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination', 'concatenation', ...CHECKSUM_EXTENSIONS];
  if (runtime.config.expire) extensions.push('expiration');
  return extensions;
}

/**
 * OPTIONS (discovery): the versions, extensions and maximum size this endpoint serves. Open to
 * everyone, like a browser's preflight (answered before this by the CORS hook).
 */
export const handleOptions: ProtocolHandler = async (runtime, _context, _request, reply) => {
  reply.header('Tus-Version', TUS_VERSION.join(','));
  reply.header('Tus-Extension', tusExtensions(runtime).join(','));
  if (runtime.config.maxSize !== undefined) reply.header('Tus-Max-Size', String(runtime.config.maxSize));
  reply.headers(CHECKSUM_DISCOVERY_HEADERS);
  return reply.code(204).send();
};
