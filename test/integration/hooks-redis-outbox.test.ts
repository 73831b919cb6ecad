import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyHookSignature } from '../../src/index.js';
import type { TusportConfig } from '../../src/index.js';
import { freePort } from '../harness/ports.js';
import { type RunningRedis, startRedis } from '../harness/redis.js';
import { killAll, start, until } from '../helpers/cli.js';
import { HOOK_SECRET, type Receiver, startReceiver } from '../helpers/hooks.js';
import { raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { idOf } from '../helpers/files.js';

// A real redis-server (appendonly, fsync per write), real receivers, real tusport instances.
const REDIS_PASSWORD = 'redis-password-for-tests-4f1c9e';
let redis: RunningRedis;
let client: Redis;

beforeAll(async () => {
  redis = await startRedis({ password: REDIS_PASSWORD });
  client = new Redis(redis.url, { maxRetriesPerRequest: null });
  // Redis is stopped on purpose in one test; this client just reconnects.
  client.on('error', () => undefined);
});

afterAll(async () => {
  client?.disconnect();
  await redis?.remove();
});

const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll();
  for (const step of cleanup.splice(0).reverse()) await step();
});

let prefixes = 0;
/** Each test its own queue in the one Redis. */
const freshPrefix = () => `test${++prefixes}:${Date.now()}:`;

const queued = async (prefix: string) => ({
  messages: await client.hlen(`${prefix}messages`),
  queue: await client.zcard(`${prefix}queue`),
  failed: await client.hlen(`${prefix}failed`),
});

function redisConfig(dir: string, prefix: string, port: number, outbox: Record<string, unknown> = {}): TusportConfig {
  return {
    outbox: { type: 'redis', url: redis.url, keyPrefix: prefix, ...outbox },
    endpoints: [
      {
        path: '/files',
        store: { type: 'disk', directory: path.join(dir, 'files') },
        hooks: [{ type: 'http', url: `http://127.0.0.1:${port}/hooks`, secret: HOOK_SECRET, events: ['post-finish'], retryDelay: 100, maxRetryDelay: 400 }],
      },
    ],
  };
}

describe('the Redis outbox', () => {
  it('two instances share one queue: with the receiver down for a while, every post-finish of uploads on either is delivered once it is up', async () => {
    const prefix = freshPrefix();
    const port = await freePort();
    const capture = capturingLogger('info');
    const servers: RunningTusport[] = [];
    for (let i = 0; i < 2; i += 1) {
      const server = await startTusport((dir) => redisConfig(dir, prefix, port), { logger: capture.logger });
      cleanup.push(() => server.close());
      servers.push(server);
    }

    const ids: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const server = servers[i % 2]!;
      const { url } = await tusUpload(Buffer.from(`upload number ${i}`), { endpoint: `${server.url}/files`, chunkSize: 7 });
      ids.push(idOf(url));
    }
    // Every client got its answer; the notifications wait in Redis, retried by both instances.
    expect((await queued(prefix)).messages).toBe(6);
    await until(() => capture.lines.filter((line) => line.msg === 'hook notification failed; will retry').length >= 12, 'failed attempts');

    const receiver: Receiver = await startReceiver(port);
    cleanup.push(() => receiver.close());
    await until(async () => {
      const left = await queued(prefix);
      return left.messages === 0 && left.queue === 0;
    }, 'the queue to drain', 30_000);
    const keys = receiver.of('post-finish').map((r) => String(r.headers['idempotency-key']));
    expect(new Set(keys)).toEqual(new Set(ids.map((id) => `${id}:post-finish`)));
    expect(new Set(keys).size).toBe(6);
    expect((await queued(prefix)).failed).toBe(0);
    for (const entry of receiver.of('post-finish')) {
      expect(verifyHookSignature(HOOK_SECRET, entry.headers['tusport-signature'], entry.raw)).toBe(true);
    }
    // Logs name the Redis without its password.
    expect(capture.text()).not.toContain(REDIS_PASSWORD);
    expect(capture.text()).toContain(`redis://127.0.0.1:${redis.port}/0`);
  });

  it('a tusport killed with SIGKILL right after an upload finished: another instance delivers its post-finish', async () => {
    const prefix = freshPrefix();
    const scratch = await tempDir('tusport-redis-outbox-');
    cleanup.push(() => scratch.remove());
    const port = await freePort();
    const config = path.join(scratch.dir, 'tusport.json');
    const settings = redisConfig(scratch.dir, prefix, port);
    // The kill likely lands while the first instance holds the message (it claims right after
    // queueing); the claim's lease is the longest hook timeout + 10 s.
    settings.endpoints![0]!.hooks![0]!.timeout = 1_000;
    await writeFile(config, JSON.stringify({ ...settings, server: { host: '127.0.0.1', port: 0 } }));

    // The receiver is down, so nothing can be delivered before the kill. `port` is reserved for
    // this process (see freePort): nothing else can start listening there meanwhile (a closed
    // ephemeral port could be handed to another test's server, which would answer the delivery).
    const first = await start(['serve', '--config', config], scratch.dir);
    const second = await start(['serve', '--config', config], scratch.dir);
    const { url } = await tusUpload(Buffer.from('bytes that must be announced'), { endpoint: `${first.url}/files`, chunkSize: 10 });
    first.child.kill('SIGKILL');
    await first.exited;
    const id = idOf(url);
    expect((await queued(prefix)).messages).toBe(1);

    const receiver: Receiver = await startReceiver(port);
    cleanup.push(() => receiver.close());
    await until(() => receiver.of('post-finish').length > 0, 'the post-finish from the second instance', 40_000);
    const [delivered] = receiver.of('post-finish');
    expect(delivered?.json.Event.Upload).toMatchObject({ ID: id, Offset: 28, Size: 28 });
    expect(delivered?.headers['idempotency-key']).toBe(`${id}:post-finish`);
    await until(async () => (await queued(prefix)).messages === 0, 'the queue to drain');
    // The log line travels through the child's stdout pipe: wait for it rather than read it once.
    await second.waitForLog('hook notification delivered', 10_000);
    expect(second.output.stdout + second.output.stderr + first.output.stdout).not.toContain(REDIS_PASSWORD);
  }, 90_000);

  it('Redis down when an upload finishes: the client still gets 204, the notification is tried once without a durable copy, tusport stays up; once Redis is back the queue is used again', async () => {
    const prefix = freshPrefix();
    const receiver: Receiver = await startReceiver();
    cleanup.push(() => receiver.close());
    const capture = capturingLogger('info');
    const server = await startTusport((dir) => redisConfig(dir, prefix, receiver.port), { logger: capture.logger });
    cleanup.push(() => server.close());
    await until(() => capture.text().includes('outbox Redis connected'), 'the first connection');

    cleanup.push(async () => {
      if (!redis.alive()) await redis.restart();
    });
    await redis.stop();
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 5 } });
    expect(created.status).toBe(201);
    const location = String(created.headers.location);
    const id = idOf(location);
    const patched = await raw(server.url, {
      method: 'PATCH',
      path: new URL(location, server.url).pathname,
      headers: { ...TUS, 'Upload-Offset': 0, 'Content-Type': 'application/offset+octet-stream' },
      body: 'hello',
    });
    // The upload is stored and done: the outbox failing does not fail it (as with a failing disk).
    expect(patched.status).toBe(204);
    expect(patched.headers['upload-offset']).toBe('5');
    expect(capture.lines.find((line) => line.msg === 'could not write the hook notification to the outbox; trying once without a durable copy')).toMatchObject({ level: 50, uploadId: id, event: 'post-finish' });
    await until(() => receiver.of('post-finish').length === 1, 'the one attempt without a durable copy');
    expect(receiver.of('post-finish')[0]?.headers['idempotency-key']).toBe(`${id}:post-finish`);
    expect(capture.lines.some((line) => line.msg === 'outbox Redis unreachable; reconnecting in the background')).toBe(true);
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    const head = await raw(server.url, { method: 'HEAD', path: new URL(location, server.url).pathname, headers: TUS });
    expect(head.headers['upload-offset']).toBe('5');

    await redis.restart();
    await until(() => capture.lines.filter((line) => line.msg === 'outbox Redis connected').length >= 2, 'the reconnection', 30_000);
    const { url } = await tusUpload(Buffer.from('after the outage'), { endpoint: `${server.url}/files` });
    const later = idOf(url);
    await until(() => receiver.of('post-finish').some((r) => r.headers['idempotency-key'] === `${later}:post-finish`), 'the post-finish through Redis');
    expect(capture.lines.find((line) => line.msg === 'hook notification queued' && line.uploadId === later)).toBeDefined();
    await until(async () => (await queued(prefix)).messages === 0, 'the queue to drain');
    expect(capture.text()).not.toContain(REDIS_PASSWORD);
  }, 90_000);

  it('a notification undelivered past giveUpAfter is moved to the failed hash and logged', async () => {
    const prefix = freshPrefix();
    const capture = capturingLogger('info');
    const server = await startTusport(
      (dir) => ({
        outbox: { type: 'redis', url: redis.url, keyPrefix: prefix, giveUpAfter: 300 },
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(dir, 'files') },
            hooks: [{ type: 'function', handlers: { 'post-create': () => Promise.reject(new Error('never')) }, retryDelay: 50, maxRetryDelay: 100 }],
          },
        ],
      }),
      { logger: capture.logger },
    );
    cleanup.push(() => server.close());
    const created = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 1 } });
    expect(created.status).toBe(201);
    const id = idOf(String(created.headers.location));
    await until(async () => (await queued(prefix)).failed === 1, 'the message in the failed hash');
    expect(await queued(prefix)).toEqual({ messages: 0, queue: 0, failed: 1 });
    const failed = Object.values(await client.hgetall(`${prefix}failed`)).map((text) => JSON.parse(text) as Record<string, unknown>);
    expect(failed[0]).toMatchObject({ uploadId: id, event: 'post-create', reason: 'threw an error' });
    expect(capture.lines.find((line) => String(line.msg).startsWith('hook notification given up'))).toMatchObject({ level: 50, uploadId: id, event: 'post-create' });
  });
});
