// The test suite's redis-server (test/harness/redis.ts), for scenarios that need the coordination
// Redis (`locker: { type: redis }`). Loaded by vite as the Ceph harness is (see ceph.mjs).
import path from 'node:path';
import { ROOT } from './servers.mjs';

/** Start a private redis-server on a free loopback port; `remove()` stops it and deletes its data. */
export async function startBenchRedis() {
  const { runnerImport } = await import('vite');
  const { module } = await runnerImport(path.join(ROOT, 'test', 'harness', 'redis.ts'), { configFile: false, logLevel: 'silent' });
  return module.startRedis();
}
