import type { Redis } from 'ioredis';
import type { Sidecar } from '../sidecar.js';
import type { PartRecord, UploadState } from './upload-state.js';

/** What the cache holds of an upload: its sidecar, multipart upload id and S3 state (no parts list). */
export interface CachedUpload {
  sidecar: Sidecar;
  multipartId: string | undefined;
  /** `completed`: S3 has completed the multipart upload (the object exists). */
  state: Omit<UploadState, 'parts'> & { completed?: boolean };
}

/** A read: the entry, or why there is none usable, and the generation to rebuild it against. */
export type CacheRead = { kind: 'hit'; entry: CachedUpload; gen: string } | { kind: 'miss'; gen: string };

/** Where the cache's Redis comes from (the shared coordination client) and how its errors read. */
export interface CacheRedis {
  redis(): Promise<Redis>;
  unavailable(): Error;
  readonly keyPrefix: string;
}

// Every script keeps the hash (KEYS[1]) and the parts list (KEYS[2]) consistent in one step.
/** Mark the entry as being written (a writer that dies leaves it so) and take the next generation. */
const BEGIN = `redis.call('HSET', KEYS[1], 'dirty', '1')
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return gen`;
/**
 * A write's result, only if no one else began since (generation ARGV[1]) and the parts list is as
 * long as the write found it (ARGV[3]); otherwise in doubt: drop the entry, the next read rebuilds it.
 */
const COMMIT = `if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return 0 end
if ARGV[3] ~= '' and redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[3]) then redis.call('DEL', KEYS[1], KEYS[2]) return 0 end
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'state', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'sidecar', ARGV[5]) end
redis.call('HSET', KEYS[1], 'dirty', '0')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;
/** A whole entry read from S3, only if no writer began since it was found missing (generation ARGV[1]). */
const STORE = `if (redis.call('HGET', KEYS[1], 'gen') or '') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
for i = 6, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('HSET', KEYS[1], 'sidecar', ARGV[3], 'mp', ARGV[4], 'state', ARGV[5], 'dirty', '0')
redis.call('HINCRBY', KEYS[1], 'gen', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`;

interface CacheCommands {
  s3CacheBegin(hash: string, list: string, ttl: number): Promise<number>;
  s3CacheCommit(hash: string, list: string, ...args: (string | number)[]): Promise<number>;
  s3CacheStore(hash: string, list: string, ...args: (string | number)[]): Promise<number>;
}

const withScripts = new WeakSet<Redis>();
function scripted(redis: Redis): Redis & CacheCommands {
  if (!withScripts.has(redis)) {
    redis.defineCommand('s3CacheBegin', { numberOfKeys: 2, lua: BEGIN });
    redis.defineCommand('s3CacheCommit', { numberOfKeys: 2, lua: COMMIT });
    redis.defineCommand('s3CacheStore', { numberOfKeys: 2, lua: STORE });
    withScripts.add(redis);
  }
  return redis as Redis & CacheCommands;
}

/** Entries outlive their last write by the endpoint's `expire` (the upload's own lifetime), else a day. */
export function stateCacheTtl(expireMs: number | undefined): number {
  return expireMs ?? 24 * 60 * 60 * 1000;
}

const encodePart = (part: PartRecord) => JSON.stringify([part.PartNumber, part.ETag, part.Size]);
const decodePart = (text: string): PartRecord => {
  const [PartNumber, ETag, Size] = JSON.parse(text) as [number, string, number];
  return { PartNumber, ETag, Size };
};

/**
 * A write-through cache of S3 uploads' state in the coordination Redis, so a HEAD costs a Redis
 * round trip instead of GET `.info` + ListParts (paged) + HEAD `.part`. Per upload (`<key>` is
 * its object key in `bucket`):
 *
 * - `<prefix>s3:<bucket>/<key>` (hash): `sidecar` (JSON), `mp` (multipart upload id), `state`
 *   (JSON: parts count and bytes, the tail's size and start, whether S3 completed it), `dirty`,
 *   `gen` (generation, bumped by every writer and rebuild).
 * - `<prefix>s3:<bucket>/<key>:parts` (list): `[partNumber, etag, size]` of each committed part,
 *   what completing the multipart upload needs.
 *
 * Every write of an upload happens under its lock, on any instance: the writer marks the entry
 * dirty (taking a new generation) before touching S3, and after its last S3 commit, before the
 * client's 204, writes the result and clears the flag, only if its generation is still current.
 * A dirty entry means a writer died or failed half-way: readers then go to S3 and rebuild it. A
 * missing entry (expired, evicted, flushed) is rebuilt from S3 the same way. Entries live `ttlMs`
 * after their last write and are deleted with the upload.
 */
export class S3StateCache {
  constructor(
    private readonly source: CacheRedis,
    private readonly bucket: string,
    private readonly ttlMs: number,
  ) {}

  private keys(key: string): [string, string] {
    const hash = `${this.source.keyPrefix}s3:${this.bucket}/${key}`;
    return [hash, `${hash}:parts`];
  }

  /** Run a Redis call; a failure is the coordination store's 503, not a 500. */
  private async run<T>(call: (redis: Redis & CacheCommands) => Promise<T>): Promise<T> {
    let redis;
    try {
      redis = scripted(await this.source.redis());
    } catch {
      throw this.source.unavailable();
    }
    try {
      return await call(redis);
    } catch {
      throw this.source.unavailable();
    }
  }

  /** One round trip: HGETALL of the upload's hash. */
  async read(key: string): Promise<CacheRead> {
    const fields = await this.run((redis) => redis.hgetall(this.keys(key)[0]));
    const gen = fields.gen ?? '';
    if (fields.dirty !== '0' || !fields.sidecar || !fields.state) return { kind: 'miss', gen };
    try {
      const entry = { sidecar: JSON.parse(fields.sidecar) as Sidecar, multipartId: fields.mp || undefined, state: JSON.parse(fields.state) as CachedUpload['state'] };
      return { kind: 'hit', entry, gen };
    } catch {
      return { kind: 'miss', gen };
    }
  }

  async parts(key: string): Promise<PartRecord[]> {
    const listed = await this.run((redis) => redis.lrange(this.keys(key)[1], 0, -1));
    return listed.map(decodePart);
  }

  /** Store what S3 holds, unless a writer began since `gen` was read. */
  async store(key: string, gen: string, entry: CachedUpload, parts: PartRecord[]): Promise<void> {
    const args = [gen, this.ttlMs, JSON.stringify(entry.sidecar), entry.multipartId ?? '', JSON.stringify(entry.state), ...parts.map(encodePart)];
    await this.run((redis) => redis.s3CacheStore(...this.keys(key), ...args));
  }

  /** Before a write touches S3: the entry is dirty until `commit`; returns the write's generation. */
  async begin(key: string): Promise<string> {
    return String(await this.run((redis) => redis.s3CacheBegin(...this.keys(key), this.ttlMs)));
  }

  /**
   * After the write's last S3 commit: its new parts, state and/or sidecar. `partsBefore` is the
   * list length the write started from (undefined when it did not touch parts).
   */
  async commit(key: string, gen: string, change: { partsBefore?: number; parts?: PartRecord[]; state?: CachedUpload['state']; sidecar?: Sidecar }): Promise<boolean> {
    const args = [
      gen,
      this.ttlMs,
      change.partsBefore === undefined ? '' : change.partsBefore,
      change.state ? JSON.stringify(change.state) : '',
      change.sidecar ? JSON.stringify(change.sidecar) : '',
      ...(change.parts ?? []).map(encodePart),
    ];
    return (await this.run((redis) => redis.s3CacheCommit(...this.keys(key), ...args))) === 1;
  }

  async drop(key: string): Promise<void> {
    await this.run((redis) => redis.del(...this.keys(key)));
  }
}
