import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import { LOCAL_SWEEP, type SweepLease } from '../coordination/sweep-lease.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import type { SweepOptions, SweepResult } from '../stores/backend.js';
import { resumerFor } from './resume.js';
import { SweepFailed } from './sweep-failed.js';
import type { SweepRound } from './sweep-hooks.js';

export { SweepFailed };

const RESULT_KEYS = ['expired', 'leftovers', 'completed', 'skipped'] as const;

/**
 * One sweep of every endpoint's store: expired unfinished uploads and crash debris removed,
 * completions that stopped half-way carried on. An endpoint whose store cannot be listed at all
 * (S3 down) does not keep the others from being swept; the sweep reports it once it is done
 * with the rest (`SweepFailed`). With several instances on one store, `lease` lets one at a time
 * sweep it; the others skip it this round.
 */
export async function sweepAll(
  runtimes: readonly EndpointRuntime[],
  options: { locker: Locker; log: FastifyBaseLogger; now: number; lease?: SweepLease },
): Promise<SweepResult> {
  const { locker, log, now, lease = LOCAL_SWEEP } = options;
  const total: SweepResult = { expired: 0, leftovers: 0, completed: 0, skipped: 0 };
  const failed: string[] = [];
  const round: SweepRound = { locker, log, now };
  for (const runtime of runtimes) {
    const endpoint = runtime.template.source;
    try {
      const sweepStore = async (): Promise<SweepResult> => {
        const swept = await runtime.store.backend.sweep({
          endpoint,
          expireMs: runtime.config.expire,
          locker,
          log,
          now,
          onRemoved: (sidecar) => runtime.quota.release(sidecar.tusport.owner, sidecar.id),
          resume: resumerFor({ template: runtime.template, store: runtime.store, locker, complete: runtime.complete, log }),
          ...storeOptionsOf(runtime, round),
        });
        // What protocols and features registered for this endpoint (src/uploads/sweep-hooks.ts).
        for (const hook of runtime.sweepHooks) {
          const done = (await hook.after?.(round)) ?? {};
          log.debug({ endpoint, hook: hook.name, ...done }, 'sweep hook done');
          for (const key of RESULT_KEYS) swept[key] += done[key] ?? 0;
        }
        // Under the same lease: shared quota counts are checked against what the store now holds.
        await runtime.quota.reconcile?.().catch((error: unknown) => log.warn({ endpoint, err: error }, 'could not reconcile the quota counts with the store; the next sweep tries again'));
        return swept;
      };
      const result = await lease.run(endpoint, sweepStore);
      if (!result) continue;
      for (const key of RESULT_KEYS) total[key] += result[key];
    } catch (error) {
      failed.push(endpoint);
      log.error({ endpoint, err: error }, 'sweep of this endpoint\'s store failed; going on with the others');
    }
  }
  if (failed.length > 0) throw new SweepFailed(failed, total);
  return total;
}

/** The store-walk options the endpoint's sweep hooks ask for (a later hook's option wins). */
function storeOptionsOf(runtime: EndpointRuntime, round: SweepRound): Pick<SweepOptions, 'noticeDirect'> {
  return Object.assign({}, ...runtime.sweepHooks.map((hook) => hook.storeOptions?.(round) ?? {}));
}
