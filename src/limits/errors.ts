import createError from '@fastify/error';

export const LimitErrors = {
  TOO_MANY_CONNECTIONS: createError('TUSPORT_ERR_TOO_MANY_CONNECTIONS', 'Too many connections; retry in %s seconds', 503),
};
