import type { Locker } from '@tus/server';
import type { FastifyBaseLogger } from 'fastify';
import { LOCAL_SWEEP, type SweepLease } from '../coordination/sweep-lease.js';
import type { EndpointRuntime } from '../endpoints/runtime.js';
import type { SweepResult } from '../stores/backend.js';
import { directNoticer } from '../protocols/s3-direct/sweep.js';
import { sweepUnclaimed } from '../files/claim-sweep.js';
import { resumerFor } from './resume.js';
import { SweepFailed } from './sweep-failed.js';

export { SweepFailed };

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
          noticeDirect: runtime.config.direct ? directNoticer(runtime, locker, log) : undefined,
        });
        // Under the same lease: shared quota counts are checked against what the store now holds.
        await runtime.quota.reconcile?.().catch((error: unknown) => log.warn({ endpoint, err: error }, 'could not reconcile the quota counts with the store; the next sweep tries again'));
        return swept;
      };
      const result = await lease.run(endpoint, sweepStore);
      if (!result) continue;
      for (const key of ['expired', 'leftovers', 'completed', 'skipped'] as const) total[key] += result[key];
      // Unclaimed uploads past `claim.ttl` count as expired (src/files/claim-sweep.ts).
      total.expired += await sweepUnclaimed(runtime, { locker, log, now });
    } catch (error) {
      failed.push(endpoint);
      log.error({ endpoint, err: error }, 'sweep of this endpoint\'s store failed; going on with the others');
    }
  }
  if (failed.length > 0) throw new SweepFailed(failed, total);
  return total;
}
