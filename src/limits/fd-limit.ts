import { readFileSync } from 'node:fs';

/** Descriptors kept for everything but client connections: logs, stores, hooks, S3, Redis. */
const FD_HEADROOM = 128;
const FALLBACK_MAX_CONNECTIONS = 1000;
const MOST_CONNECTIONS = 10_000;

/**
 * The process's soft limit on open files (`ulimit -n`), read from /proc on Linux; undefined
 * elsewhere or when unreadable (Node has no getrlimit).
 */
export function openFileLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((text) => text.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    if (soft === undefined || soft === 'unlimited') return undefined;
    const value = Number(soft);
    return Number.isInteger(value) && value > 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `server.maxConnections` when unset: a connection costs a socket and, while its body flows, the
 * upload's data file; half of what is left after the headroom keeps both within the limit (448
 * under `ulimit -n 1024`), so connections are refused with a 503 long before anything hits EMFILE.
 */
export function defaultMaxConnections(limit: number | undefined): number {
  if (limit === undefined) return FALLBACK_MAX_CONNECTIONS;
  return Math.max(16, Math.min(MOST_CONNECTIONS, Math.floor((limit - FD_HEADROOM) / 2)));
}
