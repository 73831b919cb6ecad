import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Fleet, startFleet } from '../harness/fleet.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { until } from '../helpers/wait.js';

let redis: RunningRedis;
let dir: string;
let fleet: Fleet | undefined;

beforeEach(async () => {
  redis = await startRedis({ password: 'sekrit-pass' });
  dir = await mkdtemp(path.join(tmpdir(), 'tusport-redis-ready-'));
});

afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
  await redis.remove();
  await rm(dir, { recursive: true, force: true });
});

const readyz = async (url: string) => {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as { status: string; checks: { name: string; kind: string; ok: boolean }[] } };
};

describe('/readyz with the Redis locker', () => {
  it('reports the locker, not ready while Redis is down (cause logged once, without credentials), ready again after', async () => {
    fleet = await startFleet({
      size: 1,
      dir,
      config: { locker: { type: 'redis', url: redis.url }, endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'data') } }] },
    });
    const [instance] = fleet.instances;
    expect(await readyz(instance!.url)).toEqual({ status: 200, body: { status: 'ready', checks: expect.arrayContaining([{ name: 'locker', kind: 'redis', ok: true }]) } });

    await redis.stop();
    await until(async () => (await readyz(instance!.url)).status === 503, '/readyz to report Redis down');
    const down = await readyz(instance!.url);
    expect(down.body.checks).toContainEqual({ name: 'locker', kind: 'redis', ok: false, error: 'unavailable; the cause is in the server log' });
    const label = `redis://127.0.0.1:${redis.port}/0`;
    await until(() => instance!.log().includes(`readiness: locker is unavailable: Redis at ${label} is unreachable`), 'the cause in the log');
    expect(instance!.log().match(/coordination Redis at \S+ unreachable/g)).toHaveLength(1);
    expect(instance!.log()).not.toContain('sekrit-pass');

    await redis.restart();
    await until(async () => (await readyz(instance!.url)).status === 200, '/readyz to be ready again', 20_000);
  });
});
