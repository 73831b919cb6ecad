import path from 'node:path';
import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import { acquireUploadLock } from '../uploads/lock.js';
import type { Sidecar } from '../stores/sidecar.js';
import { backgroundContext } from '../uploads/background-context.js';
import { completionStep } from '../uploads/completion.js';
import type { SweepHook } from '../uploads/sweep-hooks.js';
import { unclaimedExpiry } from './claim.js';

/** The sweep's part for a `claim` endpoint: unclaimed uploads past `claim.ttl` removed (counted as expired). */
export function claimSweepHook(runtime: EndpointRuntime): SweepHook {
  return {
    name: 'expired unclaimed uploads',
    after: async (round) => ({ expired: await sweepUnclaimed(runtime, round) }),
  };
}

/**
 * Remove the finished uploads of a `claim` endpoint that nobody claimed within `claim.ttl`. Each is
 * re-read under its lock (a claim holding the lock makes the sweep wait, then find it claimed):
 * of a claim and the sweep, exactly one wins. Resolves with the number removed.
 */
export async function sweepUnclaimed(runtime: EndpointRuntime, options: { locker: Locker; log: FastifyBaseLogger; now: number }): Promise<number> {
  const ttl = runtime.config.claim?.ttl;
  if (ttl === undefined) return 0;
  const { log, now } = options;
  let removed = 0;
  for await (const { place, sidecar } of runtime.store.backend.finishedBefore(now - ttl)) {
    if (sidecar.tusport.endpoint !== runtime.template.source || completionStep(sidecar) !== 'unclaimed') continue;
    // Only where its own params put it (a sidecar is a file anyone with store access could write).
    if (!samePlace(runtime, sidecar, place)) continue;
    try {
      if (await removeIfUnclaimed(runtime, sidecar, place, options, ttl)) removed += 1;
    } catch (error) {
      log.warn({ uploadId: sidecar.id, err: error }, 'could not remove an unclaimed upload; the next sweep tries again');
    }
  }
  return removed;
}

async function removeIfUnclaimed(runtime: EndpointRuntime, sidecar: Sidecar, place: string, options: { locker: Locker; log: FastifyBaseLogger; now: number }, ttl: number): Promise<boolean> {
  const lock = await acquireUploadLock(options.locker, sidecar.id, 0, new AbortController().signal).catch(() => undefined);
  if (!lock) return false;
  try {
    const context = backgroundContext(runtime, sidecar, place, options.log);
    const stored = await runtime.store.find(sidecar.id, context);
    if (!stored || completionStep(stored.sidecar) !== 'unclaimed' || unclaimedExpiry(stored, ttl) > options.now) return false;
    await runtime.store.removeStored(context, stored);
    await runtime.quota.release(stored.sidecar.tusport.owner, stored.sidecar.id);
    options.log.info({ uploadId: sidecar.id, endpoint: runtime.template.source }, 'unclaimed upload removed (claim.ttl passed)');
    return true;
  } finally {
    await lock.release();
  }
}

function samePlace(runtime: EndpointRuntime, sidecar: Sidecar, place: string): boolean {
  let expected;
  try {
    expected = runtime.store.backend.place(sidecar.tusport.params);
  } catch {
    return false;
  }
  return runtime.store.backend.kind === 'disk' ? path.resolve(expected) === path.resolve(place) : expected === place;
}
