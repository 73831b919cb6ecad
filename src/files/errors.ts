import createError from '@fastify/error';

export const FilesErrors = {
  LIST_NEEDS_AUTH: createError(
    'TUSPORT_ERR_LIST_NEEDS_AUTH',
    'Listing uploads needs an endpoint with auth: on an anonymous endpoint an upload\'s URL is its only secret, and a list would hand out everyone\'s',
    403,
  ),
  INVALID_QUERY: createError('TUSPORT_ERR_INVALID_QUERY', 'Invalid query parameter %s: %s', 400),
};
