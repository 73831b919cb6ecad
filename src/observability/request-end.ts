import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** How a request ended: answered (with its reply), or abandoned by the client before the answer. */
export type RequestEnd = { answered: true; reply: FastifyReply } | { answered: false };

/**
 * Call `listener` exactly once per request of `app`'s routes, when it is over. Fastify's
 * `onResponse` misses requests whose client left before the answer (their response never
 * finishes), and `onRequestAbort` also fires for a request answered early whose body was never
 * read (a 413 before reading): the second is dropped for requests already answered.
 */
export function onRequestEnd(app: FastifyInstance, listener: (request: FastifyRequest, end: RequestEnd) => void): void {
  const answered = new WeakSet<FastifyRequest>();
  app.addHook('onResponse', (request, reply, done) => {
    answered.add(request);
    listener(request, { answered: true, reply });
    done();
  });
  app.addHook('onRequestAbort', (request, done) => {
    if (!answered.has(request)) listener(request, { answered: false });
    done();
  });
}
