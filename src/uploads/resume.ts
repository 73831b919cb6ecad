import path from 'node:path';
import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import { renderUrlPath, type UrlTemplate } from '../endpoints/template.js';
import { isCodedError } from '../errors.js';
import { acquireUploadLock } from './lock.js';
import type { EndpointStore } from '../stores/endpoint-store.js';
import type { Sidecar } from '../stores/sidecar.js';
import { type Complete, completionPending, completionStep } from './completion.js';

export interface ResumeDeps {
  template: UrlTemplate;
  store: EndpointStore;
  locker: Locker;
  complete: Complete;
  log: FastifyBaseLogger;
}

/**
 * For the sweep: carry on the completion of an upload whose last byte is stored but whose
 * completion stopped half-way, or never started (a crash between the last byte and recording it,
 * or a step the store refused), and whose client will not come back to ask. Runs under
 * the upload's lock (skipped if a request holds it: that request carries it on), as the upload's
 * owner, with no request to tell hooks about. Resolves true when it did work; throws while a step
 * still cannot be done.
 */
export function resumerFor({ template, store, locker, complete, log }: ResumeDeps) {
  return async (place: string, sidecar: Sidecar): Promise<boolean> => {
    if (completionStep(sidecar) === 'notified') return false;
    const { params, owner } = sidecar.tusport;
    // Only where this upload's own params put it (a sidecar is a file anyone with disk access could write).
    let expected;
    try {
      expected = store.backend.place(params);
    } catch {
      return false;
    }
    if (store.backend.kind === 'disk' ? path.resolve(expected) !== path.resolve(place) : expected !== place) return false;
    const lock = await acquireUploadLock(locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
    if (!lock) return false;
    try {
      const context: UploadContext = {
        endpoint: template.source,
        params,
        place,
        basePath: renderUrlPath(template, params),
        origin: '',
        uploadId: sidecar.id,
        principal: null,
        owner,
        log,
      };
      const stored = await store.find(sidecar.id, context);
      if (!stored || !completionPending(stored)) return false;
      try {
        await complete(context, stored, { background: true });
      } catch (error) {
        // A taken final name is an outcome (the upload stays at its location, hooks were told).
        if (!isCodedError(error) || error.statusCode !== 409) throw error;
      }
      log.info({ uploadId: sidecar.id, endpoint: template.source }, 'sweep carried an upload\'s completion to its end');
      return true;
    } finally {
      await lock.release();
    }
  };
}
