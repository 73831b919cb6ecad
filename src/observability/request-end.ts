import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** How a request ended: answered (with its reply), or abandoned by the client before the answer. */
export type RequestEnd = { answered: true; reply: FastifyReply } | { answered: false };

/**
 * Call `listener` exactly once per request of `app`'s routes, when it is over. Fastify's
 * `onResponse` misses requests whose client left before the answer (their response never
 * finishes): `onRequestAbort` reports those. It fires when the request stream is destroyed
 * before it ended; a request already answered is never reported a second time (defensive: in
 * our tests a 413 answered before its body was read did not trigger it).
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
