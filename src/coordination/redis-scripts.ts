import type { Redis } from 'ioredis';

/**
 * Run a Lua script by its SHA (EVALSHA, falling back to EVAL when Redis does not know it, e.g.
 * after a restart): ioredis's `defineCommand` does that; each script is defined once per
 * connection, under a name derived from its text.
 */
const defined = new WeakMap<Redis, Set<string>>();

export async function runScript(redis: Redis, name: string, lua: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
  let names = defined.get(redis);
  if (!names) {
    names = new Set();
    defined.set(redis, names);
  }
  const command = `tusport_${name}`;
  if (!names.has(command)) {
    redis.defineCommand(command, { lua });
    names.add(command);
  }
  // Without a fixed numberOfKeys, ioredis takes the key count as the first argument.
  const call = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[command];
  if (!call) throw new Error(`script ${command} was not defined`);
  return call.call(redis, keys.length, ...keys, ...args);
}

/** What this module needs of the coordination Redis (RedisCoordination in src/coordination/redis-client.ts). */
export interface RedisHandle {
  readonly keyPrefix: string;
  /** The command connection, ready; throws the 503 `TUSPORT_ERR_COORDINATION_UNAVAILABLE` while Redis is down. */
  redis(): Promise<Redis>;
  /** The 503 a request gets while Redis is down. */
  unavailable(): Error;
}

/** A key part that may contain anything (an endpoint template, an owner): `:` and `%` escaped, so parts never run together. */
export function keyPart(value: string): string {
  return encodeURIComponent(value);
}
