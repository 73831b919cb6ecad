import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import { Errors, isCodedError } from '../errors.js';
import { countedBytes } from '../policy/quota.js';
import type { UnfinishedUpload } from '../stores/backend.js';
import { DROP, FINISH, MERGE, RENEW, TAKE } from './quota-scripts.js';
import { type RedisHandle, runScript } from './redis-scripts.js';

/** The rebuild lock's lease; its holder renews it every third of it while it lists the store. */
const LOCK_MS = 15_000;
const POLL_MS = 100;
/** Uploads counted per MERGE script (one round trip each; keeps a script's run short). */
const BATCH = 200;

export interface QuotaKeys {
  owner(owner: string): string;
  built: string;
  released: string;
  rebuild: string;
}

interface RebuildOptions {
  coordination: RedisHandle;
  endpoint: string;
  keys: QuotaKeys;
  listUnfinished: () => AsyncIterable<UnfinishedUpload>;
  log: FastifyBaseLogger;
}

/**
 * Rebuild one endpoint's quota counts from the store when Redis has none (the `built` marker is
 * missing: a new Redis, FLUSHALL, a restart without persistence). Meanwhile every reservation of
 * the endpoint waits (the scripts answer `rebuild` while the marker is missing).
 *
 * - Two instances at once: one takes the rebuild lock (SET NX, a lease it renews while listing);
 *   the others wait for the marker, and take the lock over if its holder dies (the lease lapses).
 * - Started when the app starts (RedisQuota.start) and whenever a check finds the marker missing;
 *   requests wait for it at most REQUEST_WAIT_MS (src/coordination/quota-warmup.ts), then 503.
 * - Requests during the rebuild: reservations wait, so no upload is created meanwhile (one that
 *   reserved before the flush and is created while the listing runs may be missed: the listing
 *   sees it only if its sidecar exists by then). Releases go on and leave the id in `released`,
 *   which the rebuild never counts again; counts written meanwhile (settle) are newer than the
 *   listing's, so the rebuild never overwrites one (HSETNX).
 */
export class QuotaRebuild {
  private running: Promise<void> | undefined;
  /** Uploads this instance's rebuild has counted so far (for /readyz). */
  counted = 0;
  /** Why the last attempt failed (S3 or Redis down), until one succeeds. */
  failure: unknown;

  constructor(private readonly options: RebuildOptions) {}

  /** Whether this instance is rebuilding, or waiting for another instance's rebuild. */
  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Resolves once the endpoint's counts are in Redis (rebuilt here or by another instance). Waits
   * for another instance as long as it holds the rebuild lock (it renews it while it lists; a dead
   * holder's lock lapses and this instance takes over): requests bound their own wait.
   */
  ensure(): Promise<void> {
    this.running ??= this.waitOrRebuild().then(
      () => {
        this.running = undefined;
        this.failure = undefined;
      },
      (error: unknown) => {
        this.running = undefined;
        this.failure = error;
        throw error;
      },
    );
    return this.running;
  }

  private async waitOrRebuild(): Promise<void> {
    const { coordination, keys } = this.options;
    for (;;) {
      const redis = await coordination.redis();
      const token = randomBytes(12).toString('hex');
      const taken = await runScript(redis, 'quota_take', TAKE, [keys.built, keys.rebuild], [token, LOCK_MS]);
      if (taken === 'built') return;
      if (taken === 'taken') {
        if (await this.rebuildHolding(token)) return;
      } else {
        await sleep(POLL_MS);
      }
    }
  }

  /** List the store and count what it holds, while the lock is ours; false when it was lost. */
  private async rebuildHolding(token: string): Promise<boolean> {
    const { coordination, keys, endpoint, log } = this.options;
    const started = Date.now();
    let lost = false;
    const renewal = setInterval(() => {
      void coordination
        .redis()
        .then((redis) => runScript(redis, 'lease_renew', RENEW, [keys.rebuild], [token, LOCK_MS]))
        .then((renewed) => {
          if (renewed === 0) lost = true;
        })
        .catch(() => undefined);
    }, LOCK_MS / 3);
    renewal.unref();
    this.counted = 0;
    try {
      let batch: UnfinishedUpload[] = [];
      const merge = async () => {
        if (batch.length === 0) return;
        const uploads = batch.filter((upload) => upload.sidecar.tusport.owner !== null);
        batch = [];
        const redis = await coordination.redis();
        const merged = await runScript(
          redis,
          'quota_merge',
          MERGE,
          [keys.released, keys.rebuild, ...uploads.map((upload) => keys.owner(upload.sidecar.tusport.owner ?? ''))],
          [token, ...uploads.flatMap((upload) => [upload.sidecar.id, String(countedBytes(upload.sidecar.size, upload.offset))])],
        );
        if (merged === 0) lost = true;
        this.counted += uploads.length;
      };
      try {
        for await (const upload of this.options.listUnfinished()) {
          if (lost) break;
          if (upload.sidecar.tusport.endpoint === endpoint) batch.push(upload);
          if (batch.length >= BATCH) await merge();
        }
      } catch (error) {
        if (isCodedError(error)) throw error;
        log.error({ endpoint, err: error }, 'could not list the store to rebuild the quota counts');
        throw new Errors.STORAGE_FAILED();
      }
      await merge();
      const redis = await coordination.redis();
      if (lost || (await runScript(redis, 'quota_finish', FINISH, [keys.built, keys.rebuild], [token])) === 0) {
        log.warn({ endpoint }, 'quota rebuild lost its lock (another instance took it over); waiting for that one');
        return false;
      }
      log.info({ endpoint, uploads: this.counted, ms: Date.now() - started }, 'quota counts rebuilt from the store (Redis had none)');
      return true;
    } finally {
      clearInterval(renewal);
      await coordination
        .redis()
        .then((redis) => runScript(redis, 'lease_drop', DROP, [keys.rebuild], [token]))
        .catch(() => undefined);
    }
  }
}
