import type { FastifyBaseLogger } from 'fastify';
import { isCodedError } from '../errors.js';
import { countedBytes, QuotaErrors, type QuotaLimits } from '../policy/quota.js';
import type { UnfinishedUpload } from '../stores/backend.js';
import type { Sidecar } from '../stores/sidecar.js';
import { quotaEnabled, quotaExceeded, type QuotaTracker } from './quota.js';
import { QuotaRebuild, type QuotaKeys } from './quota-rebuild.js';
import { CLAIM, RECONCILE, RELEASE, RESERVE, RESIZE, SETTLE } from './quota-scripts.js';
import { notCountedYet, stillRebuilding, waitForCounts } from './quota-warmup.js';
import { keyPart, type RedisHandle, runScript } from './redis-scripts.js';

/** How long a released id is remembered, so a rebuild listing the store meanwhile does not count it again. */
const RELEASED_KEEP_MS = 10 * 60 * 1000;
/** A reservation this recent may belong to a creation not yet in the store when it was listed: reconciliation keeps it. */
const RECONCILE_MARGIN_MS = 60 * 1000;

type Answer = [string, ...string[]];

/**
 * The quotas of one endpoint counted in Redis (`locker.type: redis`), shared by every instance:
 * each check and its count is one Lua script (src/coordination/quota-scripts.ts), so the limits
 * hold across the fleet. When Redis holds no counts for the endpoint (a new or flushed Redis),
 * they are rebuilt from the store (QuotaRebuild) by one instance: started when the app starts,
 * and by the first request or /readyz probe that finds them missing. Until then /readyz says
 * not ready and a request waits at most REQUEST_WAIT_MS, then gets 503 with Retry-After.
 * Redis unreachable: checks answer 503 (`TUSPORT_ERR_COORDINATION_UNAVAILABLE`), never a 500;
 * the after-the-fact updates (settle, release) are logged and dropped (a count left too high is
 * corrected by the next rebuild).
 */
export class RedisQuota implements QuotaTracker {
  private readonly keys: QuotaKeys & { reserved: string; ownerPattern: string };
  private readonly rebuild: QuotaRebuild;

  constructor(
    private readonly coordination: RedisHandle,
    private readonly endpoint: string,
    private readonly listUnfinished: () => AsyncIterable<UnfinishedUpload>,
    private readonly limits: QuotaLimits,
    private readonly log: FastifyBaseLogger,
  ) {
    const base = `${coordination.keyPrefix}quota`;
    const ep = keyPart(endpoint);
    this.keys = {
      owner: (owner) => `${base}:${ep}:${keyPart(owner)}`,
      built: `${base}-built:${ep}`,
      released: `${base}-released:${ep}`,
      rebuild: `${base}-rebuild:${ep}`,
      reserved: `${base}-reserved:${ep}`,
      // SCAN MATCH is a glob: escape what the prefix might hold.
      ownerPattern: `${`${base}:${ep}:`.replace(/[*?[\]\\]/g, '\\$&')}*`,
    };
    this.rebuild = new QuotaRebuild({ coordination, endpoint, keys: this.keys, listUnfinished, log });
  }

  get enabled(): boolean {
    return quotaEnabled(this.limits);
  }

  get countsBytes(): boolean {
    return this.limits.maxBytesInFlight !== undefined;
  }

  async reserve(owner: string | null, id: string, bytes: number, exact = true): Promise<number> {
    if (!this.enabled || owner === null) return bytes;
    const limits = [this.limits.maxUnfinishedUploads ?? -1, this.limits.maxBytesInFlight ?? -1];
    const answer = await this.check('reserve', RESERVE, owner, [id, bytes, exact ? 1 : 0, ...limits, Date.now()], [this.keys.reserved]);
    return Number(answer[1]);
  }

  async resize(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.enabled || owner === null) return;
    await this.check('resize', RESIZE, owner, [sidecar.id, bytes, this.limits.maxBytesInFlight ?? -1]);
  }

  async claim(sidecar: Sidecar, offset: number, wanted: number, exact: boolean): Promise<number> {
    const owner = sidecar.tusport.owner;
    const max = this.limits.maxBytesInFlight;
    if (max === undefined || owner === null) return wanted;
    const answer = await this.check('claim', CLAIM, owner, [sidecar.id, offset, wanted, exact ? 1 : 0, max]);
    return Number(answer[1]);
  }

  async settle(sidecar: Sidecar, bytes: number): Promise<void> {
    const owner = sidecar.tusport.owner;
    if (!this.countsBytes || owner === null) return;
    await this.update('settle', SETTLE, [this.keys.owner(owner)], [sidecar.id, bytes], sidecar.id);
  }

  async release(owner: string | null, id: string): Promise<void> {
    if (!this.enabled || owner === null) return;
    await this.update('release', RELEASE, [this.keys.owner(owner), this.keys.released], [id, Date.now(), RELEASED_KEEP_MS], id);
  }

  exceeded(): Error {
    return quotaExceeded(this.limits);
  }

  /** The app starts: have the counts rebuilt now if Redis has none (not on the first request). */
  start(): void {
    if (!this.enabled) return;
    this.rebuild.ensure().catch((error: unknown) => this.log.warn({ endpoint: this.endpoint, err: error }, 'quota counts could not be rebuilt at start; /readyz and the next request try again'));
  }

  /** /readyz: the counts are in Redis (a missing marker starts the rebuild, and is not ready). */
  async ready(): Promise<void> {
    if (!this.enabled) return;
    if (!this.rebuild.busy && (await (await this.coordination.redis()).exists(this.keys.built)) === 1) return;
    const failure = this.rebuild.failure;
    this.start();
    throw notCountedYet(this.endpoint, this.rebuild.counted, failure);
  }

  /**
   * Make the counts agree with the store (the sweep calls this, under its lease): a slot no upload
   * holds (a creation killed between its quota check and its sidecar) is given back, an upload the
   * counts missed is counted. Returns how many slots were given back.
   */
  async reconcile(): Promise<number> {
    if (!this.enabled) return 0;
    const cutoff = Date.now() - RECONCILE_MARGIN_MS;
    const listed = new Map<string, string[]>();
    for await (const { sidecar, offset } of this.listUnfinished()) {
      const owner = sidecar.tusport.owner;
      if (sidecar.tusport.endpoint !== this.endpoint || owner === null) continue;
      const key = this.keys.owner(owner);
      listed.set(key, [...(listed.get(key) ?? []), sidecar.id, String(countedBytes(sidecar.size, offset))]);
    }
    const redis = await this.coordination.redis();
    // Counts are being rebuilt (or will be on first use): that listing is as good as this one.
    if ((await redis.exists(this.keys.built)) === 0) return 0;
    const owners = new Set(listed.keys());
    for await (const keys of redis.scanStream({ match: this.keys.ownerPattern, count: 500 }) as AsyncIterable<string[]>) for (const key of keys) owners.add(key);
    let dropped = 0;
    for (const key of owners) dropped += Number(await runScript(redis, 'quota_reconcile', RECONCILE, [key, this.keys.released, this.keys.reserved], [cutoff, ...(listed.get(key) ?? [])]));
    if (dropped > 0) this.log.warn({ endpoint: this.endpoint, slots: dropped }, 'quota counts reconciled with the store: slots no upload held were given back');
    return dropped;
  }

  /** Run a checking script; rebuild the counts first when Redis has none; turn its refusal into the quota's error. */
  private async check(name: string, lua: string, owner: string, args: (string | number)[], extraKeys: string[] = []): Promise<Answer> {
    for (let attempt = 0; ; attempt += 1) {
      const answer = (await this.call(() => this.run(name, lua, [this.keys.owner(owner), this.keys.built, ...extraKeys], args))) as Answer;
      switch (answer[0]) {
        case 'ok':
          return answer;
        case 'uploads':
          throw new QuotaErrors.TOO_MANY_UPLOADS(Number(answer[1]));
        case 'bytes':
          throw new QuotaErrors.TOO_MANY_BYTES(Number(answer[1]), Number(answer[2]));
        case 'rebuild':
          // Flushed again while we rebuilt would loop forever: after a few rounds, let the client retry.
          if (attempt >= 3) throw stillRebuilding();
          await this.call(() => waitForCounts(this.rebuild.ensure()));
          break;
        default:
          throw new Error(`unexpected answer from the ${name} script: ${JSON.stringify(answer)}`);
      }
    }
  }

  /** An update after the fact: the request it belongs to has its answer already, so a failure is logged, not thrown. */
  private async update(name: string, lua: string, keys: string[], args: (string | number)[], id: string): Promise<void> {
    try {
      await this.call(() => this.run(name, lua, keys, args));
    } catch (error) {
      this.log.error({ endpoint: this.endpoint, uploadId: id, err: error }, `quota ${name} could not reach Redis; the count stays as it was until the next rebuild`);
    }
  }

  private async run(name: string, lua: string, keys: string[], args: (string | number)[]): Promise<unknown> {
    return runScript(await this.coordination.redis(), `quota_${name}`, lua, keys, args);
  }

  /** Redis failing (down, timed out) is the 503 of coordination, never a 500. */
  private async call<T>(action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (isCodedError(error)) throw error;
      this.log.warn({ endpoint: this.endpoint, reason: (error as Error).message }, 'quota check could not reach Redis');
      throw this.coordination.unavailable();
    }
  }
}
