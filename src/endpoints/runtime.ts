import type { Locker } from '@tus/server';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Authenticator } from '../auth/authenticate.js';
import type { EndpointConfig } from '../config/schema.js';
import type { EndpointHooks } from '../hooks/dispatcher.js';
import type { AcceptRules } from '../policy/accept.js';
import type { QuotaTracker } from '../policy/quota.js';
import type { EndpointStore } from '../stores/endpoint-store.js';
import type { Complete } from '../uploads/completion.js';
import type { SweepHook } from '../uploads/sweep-hooks.js';
import type { UploadContext } from './context.js';
import type { RequestOrigin } from './request-origin.js';
import type { UrlTemplate } from './template.js';

/** Everything one mounted endpoint needs at request time, built once in `buildApp`. */
export interface EndpointRuntime {
  config: EndpointConfig;
  template: UrlTemplate;
  store: EndpointStore;
  locker: Locker;
  /** How long a lock holder gets to wrap up when another request asks for the upload. */
  lockDrainMs: number;
  authenticate: Authenticator;
  accept: AcceptRules | undefined;
  quota: QuotaTracker;
  hooks: EndpointHooks;
  /** Base URL and client address of a request (server.publicUrl, trusted proxies' headers). */
  origin: RequestOrigin;
  /**
   * Carry an upload whose last byte is in through completion (src/uploads/completion.ts; the
   * caller holds the lock). Resolves with headers pre-finish hooks asked for.
   */
  complete: Complete;
  /**
   * What the sweep of this endpoint's store does besides the core's work, registered by each
   * protocol or feature as it is mounted (src/uploads/sweep-hooks.ts).
   */
  sweepHooks: SweepHook[];
}

export type ProtocolHandler = (runtime: EndpointRuntime, context: UploadContext, request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

/** A signal that fires when the client goes away before we have answered. */
export function clientGoneSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  const response = reply.raw;
  if (response.destroyed) {
    controller.abort(new Error('client disconnected'));
  } else {
    response.once('close', () => {
      if (!response.writableFinished) controller.abort(new Error('client disconnected'));
    });
  }
  return controller.signal;
}
