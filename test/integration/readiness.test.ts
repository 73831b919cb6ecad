import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { until } from '../helpers/cli.js';
import { HOOK_SECRET } from '../helpers/hooks.js';
import { raw } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';

// /readyz against real stores and a real redis-server, made unusable the way they break in life.

interface Readiness {
  status: string;
  checks: { name: string; kind: string; ok: boolean; error?: string }[];
}

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function readiness(server: RunningTusport): Promise<{ status: number; body: Readiness; text: string }> {
  const response = await raw(server.url, { method: 'GET', path: '/readyz' });
  return { status: response.status, body: JSON.parse(response.body) as Readiness, text: response.body };
}

const PUBLIC_FAILURE = 'unavailable; the cause is in the server log';

/** A tusport whose log is captured: /readyz names a failed check, the log says why. */
async function start(config: Parameters<typeof startTusport>[0]): Promise<RunningTusport & { log: ReturnType<typeof capturingLogger> }> {
  const log = capturingLogger('info');
  const server = await startTusport(config, { logger: log.logger });
  cleanup.push(() => server.close());
  return { ...server, log };
}

/** The warn lines /readyz logged for `check`, with their reasons. */
const reasonsLogged = (log: ReturnType<typeof capturingLogger>, check: string) =>
  log.lines.filter((line) => line.check === check && line.level === 40).map((line) => line.reason);

describe('/readyz with disk stores', () => {
  it('is 200 while every store directory is usable, 503 naming the store when one becomes a file, and 200 again once it is fixed; /healthz stays 200', async () => {
    const server = await start((dir) => ({
      endpoints: [
        { path: '/files', store: { type: 'disk', directory: path.join(dir, 'files') } },
        { path: '/users/{username}/uploads', store: { type: 'disk', directory: path.join(dir, 'users', '{username}') } },
      ],
    }));
    const ready = await readiness(server);
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({
      status: 'ready',
      checks: [
        { name: 'store /files', kind: 'disk', ok: true },
        { name: 'store /users/{username}/uploads', kind: 'disk', ok: true },
      ],
    });

    // The templated store's root replaced by a file: nothing can be created under it.
    const root = path.join(server.dir, 'users');
    await rm(root, { recursive: true, force: true });
    await writeFile(root, 'not a directory');
    const broken = await readiness(server);
    expect(broken.status).toBe(503);
    expect(broken.body.status).toBe('unready');
    expect(broken.body.checks).toEqual([
      { name: 'store /files', kind: 'disk', ok: true },
      { name: 'store /users/{username}/uploads', kind: 'disk', ok: false, error: PUBLIC_FAILURE },
    ]);
    // The cause (with its server path) goes to the operator's log, not to whoever probes.
    expect(broken.text).not.toContain(server.dir);
    expect(reasonsLogged(server.log, 'store /users/{username}/uploads')).toEqual([`${root} is not a directory`]);
    // A second failing probe does not log the same cause again.
    expect((await readiness(server)).status).toBe(503);
    expect(reasonsLogged(server.log, 'store /users/{username}/uploads')).toHaveLength(1);
    // Liveness is another question: the process is fine.
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);

    await rm(root);
    await mkdir(root);
    expect((await readiness(server)).status).toBe(200);
    expect(server.log.lines.some((line) => line.check === 'store /users/{username}/uploads' && line.msg === 'readiness: store /users/{username}/uploads is available again')).toBe(true);
  });

  it('a store directory that does not exist yet is ready when it can be created', async () => {
    const server = await start((dir) => ({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(dir, 'not', 'yet', 'there') } }] }));
    expect((await readiness(server)).status).toBe(200);
  });

  it('the disk outbox is checked when hooks need it: its directory replaced by a file is 503 naming the outbox', async () => {
    const server = await start((dir) => ({
      outbox: { type: 'disk', directory: path.join(dir, 'outbox') },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          hooks: [{ type: 'http', url: 'http://127.0.0.1:9/hooks', secret: HOOK_SECRET, events: ['post-finish'] }],
        },
      ],
    }));
    expect((await readiness(server)).body.checks).toContainEqual({ name: 'outbox', kind: 'disk', ok: true });
    const outbox = path.join(server.dir, 'outbox');
    await rm(outbox, { recursive: true, force: true });
    await writeFile(outbox, '');
    const broken = await readiness(server);
    expect(broken.status).toBe(503);
    expect(broken.body.checks).toContainEqual({ name: 'outbox', kind: 'disk', ok: false, error: PUBLIC_FAILURE });
    expect(reasonsLogged(server.log, 'outbox')).toEqual([`${outbox} is not a directory`]);
    expect(broken.body.checks).toContainEqual({ name: 'store /files', kind: 'disk', ok: true });
  });
});

describe('/readyz with the Redis outbox', () => {
  const password = 'redis-password-for-readyz-0b7e';
  let redis: RunningRedis;
  beforeAll(async () => {
    redis = await startRedis({ password });
  });
  afterAll(async () => {
    await redis?.remove();
  });

  it('is 503 naming Redis (without its password) while redis-server is down, and ready again once it is back', async () => {
    if (!redis.alive()) await redis.restart();
    const server = await start((dir) => ({
      outbox: { type: 'redis', url: redis.url, keyPrefix: `readyz:${Date.now()}:` },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          hooks: [{ type: 'http', url: 'http://127.0.0.1:9/hooks', secret: HOOK_SECRET, events: ['post-finish'] }],
        },
      ],
    }));
    await until(async () => (await readiness(server)).status === 200, 'ready with Redis up');
    expect((await readiness(server)).body.checks).toContainEqual({ name: 'outbox', kind: 'redis', ok: true });

    const loggedBefore = reasonsLogged(server.log, 'outbox').length;
    await redis.kill();
    const down = await readiness(server);
    expect(down.status).toBe(503);
    const where = new URL(redis.url);
    expect(down.body.checks).toContainEqual({ name: 'outbox', kind: 'redis', ok: false, error: PUBLIC_FAILURE });
    expect(down.text).not.toContain(where.host);
    expect(reasonsLogged(server.log, 'outbox').slice(loggedBefore)).toEqual([`Redis at redis://${where.host}/0 is unreachable`]);
    expect(server.log.text()).not.toContain(password);

    await redis.restart();
    // ioredis reconnects in the background, backing off up to 5 s.
    await until(async () => (await readiness(server)).status === 200, 'ready again with Redis back', 30_000);
  });
});
