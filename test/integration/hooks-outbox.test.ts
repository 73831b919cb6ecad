import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { freePort } from '../harness/ports.js';
import { HOOK_SECRET, type Receiver, startReceiver, TusdHookRequest } from '../helpers/hooks.js';
import { until } from '../helpers/cli.js';
import { raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { idOf } from '../helpers/files.js';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.splice(0).reverse()) await close();
});


const outboxFiles = async (dir: string) => (await readdir(dir).catch(() => [] as string[])).filter((name) => name.endsWith('.json'));

describe('the durable outbox', () => {
  it('a receiver that is down for a while gets every post-finish once it is up; duplicates only under one idempotency key', async () => {
    const port = await freePort();
    const capture = capturingLogger('info');
    const server: RunningTusport = await startTusport(
      (dir) => ({
        outbox: { directory: path.join(dir, 'outbox') },
        endpoints: [
          {
            path: '/files',
            store: { type: 'disk', directory: path.join(dir, 'files') },
            hooks: [{ type: 'http', url: `http://127.0.0.1:${port}/hooks`, secret: HOOK_SECRET, events: ['post-finish'], retryDelay: 100, maxRetryDelay: 400 }],
          },
        ],
      }),
      { logger: capture.logger },
    );
    cleanup.push(() => server.close());
    const outbox = path.join(server.dir, 'outbox');

    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const { url } = await tusUpload(Buffer.from(`upload number ${i}`), { endpoint: `${server.url}/files`, chunkSize: 7 });
      ids.push(idOf(url));
    }
    // Every upload succeeded for its client; the notifications wait on disk.
    expect((await outboxFiles(outbox)).length).toBe(5);
    await until(() => capture.lines.filter((line) => line.msg === 'hook notification failed; will retry').length >= 10, 'failed attempts');
    const retry = capture.lines.find((line) => line.msg === 'hook notification failed; will retry');
    expect(ids).toContain(retry?.uploadId);
    expect(retry).toMatchObject({ event: 'post-finish', hook: `http://127.0.0.1:${port}/hooks` });

    // Up again, and it loses the first answer to every notification: those are sent again.
    const receiver: Receiver = await startReceiver(port);
    cleanup.push(() => receiver.close());
    const seen = new Set<string>();
    receiver.answer = ({ headers }) => {
      const key = String(headers['idempotency-key']);
      if (seen.has(key)) return undefined;
      seen.add(key);
      return { status: 500 };
    };
    await until(async () => (await outboxFiles(outbox)).length === 0, 'the outbox to drain');
    const keys = receiver.of('post-finish').map((r) => String(r.headers['idempotency-key']));
    expect(new Set(keys)).toEqual(new Set(ids.map((id) => `${id}:post-finish`)));
    expect(keys.length).toBeGreaterThanOrEqual(2 * ids.length);
    for (const entry of receiver.of('post-finish')) expect(`${entry.json.Event.Upload.ID}:post-finish`).toBe(entry.headers['idempotency-key']);
    expect(capture.text()).not.toContain(HOOK_SECRET);
    expect(capture.text()).not.toContain('v1=');
  });

  it('a notification undelivered past giveUpAfter is set aside in failed/ and logged', async () => {
    const capture = capturingLogger('info');
    const server = await startTusport(
      (dir) => ({
        outbox: { directory: path.join(dir, 'outbox'), giveUpAfter: 300 },
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
    await until(async () => (await outboxFiles(path.join(server.dir, 'outbox', 'failed'))).length === 1, 'the message in failed/');
    expect(await outboxFiles(path.join(server.dir, 'outbox'))).toEqual([]);
    expect(capture.lines.find((line) => String(line.msg).startsWith('hook notification given up'))).toMatchObject({ level: 50, uploadId: id, event: 'post-create' });
  });
});

describe('function hooks (library)', () => {
  it('get the tusd JSON, may reject, and notifications are retried until the function succeeds', async () => {
    const finished: HookRequest[] = [];
    let failures = 0;
    const server = await startTusport((dir) => ({
      outbox: { directory: path.join(dir, 'outbox') },
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          hooks: [
            {
              type: 'function',
              retryDelay: 20,
              maxRetryDelay: 50,
              handlers: {
                'pre-create': (request) =>
                  request.Event.Upload.MetaData.filename === 'no.txt' ? { RejectUpload: true, HTTPResponse: { StatusCode: 451, Body: 'not this one' } } : undefined,
                'post-finish': async (request) => {
                  if (failures < 2) {
                    failures += 1;
                    throw new Error('downstream hiccup');
                  }
                  finished.push(request);
                },
              },
            },
          ],
        },
      ],
    }));
    cleanup.push(() => server.close());
    const refused = await tusUpload(Buffer.from('x'), { endpoint: `${server.url}/files`, metadata: { filename: 'no.txt' } }).catch((error: Error) => error);
    expect(String(refused)).toContain('451');
    const { url } = await tusUpload(Buffer.from('yes'), { endpoint: `${server.url}/files`, metadata: { filename: 'yes.txt' } });
    await until(() => finished.length === 1, 'post-finish after two failures');
    expect(failures).toBe(2);
    const request = TusdHookRequest.parse(finished[0]);
    expect(request.Event.Upload).toMatchObject({ ID: idOf(url), Size: 3, Offset: 3, MetaData: { filename: 'yes.txt' } });
    await sleep(100);
    expect(finished).toHaveLength(1);
  });
});
