import type { FastifyInstance } from 'fastify';
import type { MetricsHandle } from '../observability/metrics/handle.js';
import { ConfigError } from '../config/load.js';
import { SweepFailed } from '../uploads/sweep-failed.js';
import type { AppClaimOptions, ClaimResult } from '../files/claim-types.js';

export type { AppClaimOptions, ClaimResult };

/**
 * The public face of `app.tusport`. Declared here, by hand, rather than derived from the store
 * and hook modules: those speak @tus/server's types, and a consumer's type check
 * (`skipLibCheck: false`) must not have to load them.
 */

/** What one sweep removed. */
export interface SweepResult {
  /** Unfinished uploads past their endpoint's `expire`. */
  expired: number;
  /** Crash debris: tusport's temp files, sidecars without data, multipart uploads without a sidecar. */
  leftovers: number;
  /** Finished uploads whose completion (finalize, notifications) the sweep carried to its end. */
  completed: number;
  /** Entries the sweep could not judge or handle (each logged); it went on with the rest. */
  skipped: number;
}

/** tusport's maintenance entry points, for every tusport registered in this Fastify instance. */
export interface TusportControls {
  /** Remove expired unfinished uploads and crash debris now (also run every `server.cleanupInterval`). */
  sweep(now?: number): Promise<SweepResult>;
  /** Check that every endpoint's store is usable (S3: bucket reachable, credentials valid); throws naming the endpoint. */
  checkStores(): Promise<void>;
  /** The Prometheus metrics (of the first tusport registered with `metrics.enabled`; undefined if none). */
  readonly metrics: MetricsHandle | undefined;
  /**
   * Claim a finished upload of an endpoint with `claim` (by its URL template, e.g. `/files`): it is
   * finalized, post-finish fires, and the answer says where it is. Idempotent. Throws coded errors:
   * 404 unknown or removed, 409 unfinished, 410 past `claim.ttl`, 400 bad options.
   */
  claim: ClaimFunction;
}

export type ClaimFunction = (endpoint: string, id: string, options?: AppClaimOptions) => Promise<ClaimResult>;

declare module 'fastify' {
  interface FastifyInstance {
    /** tusport's maintenance entry points (added by registering tusport). */
    tusport: TusportControls;
  }
}

// In a module of its own so the CLI can name it without loading the plugin.
export { StoreCheckError } from './store-check-error.js';

interface Member {
  /** Where it is mounted, for messages. */
  prefix: string;
  /** Its notification outbox, if it has one (see HookSystem.outboxLocation). */
  outbox: string | undefined;
  sweep(now?: number): Promise<SweepResult>;
  checkStores(): Promise<void>;
  claim: ClaimFunction;
  /** Its metrics handle, known once its routes are registered. */
  metrics(): MetricsHandle | undefined;
}

/**
 * `app.tusport`: one decorator however many tusports the app registers (under different
 * prefixes), answering for all of them. Kept on the instance, never in a module variable, so
 * two apps in one process know nothing of each other.
 */
class TusportRegistry implements TusportControls {
  private readonly members: Member[] = [];

  add(member: Member): void {
    // Hook ids are derived from endpoint paths, so two tusports draining one outbox would each
    // deliver the other's notifications to their own hooks.
    const sharing = member.outbox === undefined ? undefined : this.members.find((other) => other.outbox === member.outbox);
    if (sharing) {
      throw new ConfigError(
        `Invalid tusport plugin options: the tusport at ${JSON.stringify(member.prefix || '/')} would share its ${member.outbox} with the one at ${JSON.stringify(sharing.prefix || '/')}: give each its own outbox`,
      );
    }
    this.members.push(member);
  }

  async sweep(now = Date.now()): Promise<SweepResult> {
    const total: SweepResult = { expired: 0, leftovers: 0, completed: 0, skipped: 0 };
    const failed: string[] = [];
    for (const member of this.members) {
      let result: SweepResult;
      try {
        result = await member.sweep(now);
      } catch (error) {
        // One tusport's unlistable store does not keep the others from being swept.
        if (!(error instanceof SweepFailed)) throw error;
        failed.push(...error.failed);
        result = error.result;
      }
      for (const key of ['expired', 'leftovers', 'completed', 'skipped'] as const) total[key] += result[key];
    }
    if (failed.length > 0) throw new SweepFailed(failed, total);
    return total;
  }

  async checkStores(): Promise<void> {
    for (const member of this.members) await member.checkStores();
  }

  claim: ClaimFunction = async (endpoint, id, options) => {
    // The tusport that has this endpoint with `claim` answers; the others say they have none.
    let unknown: unknown;
    for (const member of this.members) {
      try {
        return await member.claim(endpoint, id, options);
      } catch (error) {
        if ((error as { code?: string }).code !== 'TUSPORT_ERR_CLAIM_ENDPOINT') throw error;
        unknown = error;
      }
    }
    throw unknown ?? new Error(`no tusport is registered to claim on ${endpoint}`);
  };

  get metrics(): MetricsHandle | undefined {
    for (const member of this.members) {
      const handle = member.metrics();
      if (handle) return handle;
    }
    return undefined;
  }
}

/** Make `member` answer through `app.tusport`, decorating `app` the first time. */
export function joinControls(app: FastifyInstance, member: Member): void {
  if (!app.hasDecorator('tusport')) app.decorate('tusport', new TusportRegistry());
  const registry = app.tusport;
  if (!(registry instanceof TusportRegistry)) throw new Error('app.tusport is already taken by something other than tusport');
  registry.add(member);
}
