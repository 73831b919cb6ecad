import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TusportConfig } from '../../src/index.js';
import { idOf, listTree } from '../helpers/files.js';
import { createUpload, errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import { until } from '../helpers/wait.js';

/**
 * Quotas live in the process and are rebuilt from the store's sidecars: a restart must not forget
 * unfinished uploads (nor count finished ones), and an expired upload gives its slot back. The
 * sweep that expires uploads also runs on its own timer (`server.cleanupInterval`).
 */

const TOKENS = { alice: 'alice-quota-token-0123456789', bob: 'bob-quota-token-0123456789ab' };
const auth = (who: keyof typeof TOKENS) => ({ Authorization: `Bearer ${TOKENS[who]}` });

let scratch: Awaited<ReturnType<typeof tempDir>>;
const running: RunningTusport[] = [];
beforeEach(async () => {
  scratch = await tempDir('tusport-quota-');
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.close()));
  await scratch.remove();
});

/** A tusport on the shared store directory (a restart is a second one on the same directory). */
async function serve(extra: { server?: TusportConfig['server']; expire?: string | number } = {}): Promise<RunningTusport> {
  const server = await startTusport(
    (dir) => ({
      server: extra.server,
      endpoints: [
        {
          path: '/files',
          store: { type: 'disk', directory: path.join(dir, 'files') },
          auth: { type: 'bearer', tokens: Object.entries(TOKENS).map(([id, token]) => ({ id, token })) },
          policy: { quota: { maxUnfinishedUploads: 2, maxBytesInFlight: 1000 } },
          expire: extra.expire ?? '1h',
        },
      ],
    }),
    { dir: scratch.dir },
  );
  running.push(server);
  return server;
}

const create = (server: RunningTusport, who: keyof typeof TOKENS, length: number) =>
  raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': String(length), ...auth(who) } });

describe('quotas across a restart', () => {
  it('are rebuilt from the sidecars: unfinished uploads still count, finished ones do not', async () => {
    const first = await serve();
    expect((await create(first, 'alice', 400)).status).toBe(201);
    const finished = await createUpload(first.url, '/files', { 'Upload-Length': 3, ...auth('alice') });
    expect((await patch(first.url, finished, 0, 'abc', auth('alice'))).status).toBe(204);
    expect((await create(first, 'bob', 900)).status).toBe(201);
    await first.close();

    const second = await serve();
    // alice: one unfinished (400 bytes) remembered, the finished one not: one slot left.
    expect((await create(second, 'alice', 600)).status).toBe(201);
    const third = await create(second, 'alice', 1);
    expect(third.status).toBe(429);
    expect(errorOf(third).code).toBe('TUSPORT_ERR_QUOTA_UPLOADS');
    // bob: 900 bytes in flight remembered.
    const over = await create(second, 'bob', 101);
    expect(over.status).toBe(413);
    expect(errorOf(over)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_BYTES', message: expect.stringContaining('this one would make 1001') });
    expect((await create(second, 'bob', 100)).status).toBe(201);
  });

  it('an expired upload gives its slot back when the sweep removes it', async () => {
    const server = await serve();
    const stale = await createUpload(server.url, '/files', { 'Upload-Length': 10, ...auth('alice') });
    expect((await create(server, 'alice', 10)).status).toBe(201);
    expect((await create(server, 'alice', 10)).status).toBe(429);
    // Two hours on, both unfinished uploads have expired and are swept.
    expect(await server.app.tusport.sweep(Date.now() + 2 * 3600_000)).toMatchObject({ expired: 2, leftovers: 0 });
    expect(await listTree(path.join(scratch.dir, 'files'))).not.toContain(idOf(stale));
    expect((await create(server, 'alice', 10)).status).toBe(201);
    expect((await create(server, 'alice', 10)).status).toBe(201);
  });
});

describe('the scheduled sweep', () => {
  it('runs every server.cleanupInterval while the server listens: an expired unfinished upload disappears by itself; a finished one stays', async () => {
    const server = await serve({ server: { cleanupInterval: 100 }, expire: 300 });
    const unfinished = await createUpload(server.url, '/files', { 'Upload-Length': 10, ...auth('bob') });
    const finished = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': 2, 'Content-Type': 'application/offset+octet-stream', ...auth('bob') }, body: 'ok' });
    expect(finished.headers['upload-offset']).toBe('2');
    const store = path.join(scratch.dir, 'files');
    expect(await listTree(store)).toContain(idOf(unfinished));
    // No request and no explicit sweep: only the timer can remove it.
    await until(async () => !(await listTree(store)).includes(idOf(unfinished)), 'the timer to sweep the expired upload', 30_000);
    expect(await listTree(store)).not.toContain(`${idOf(unfinished)}.json`);
    const finishedId = idOf(String(finished.headers.location));
    expect(await listTree(store)).toEqual([finishedId, `${finishedId}.json`].sort());
    expect((await raw(server.url, { method: 'GET', path: `/files/${finishedId}`, headers: auth('bob') })).body).toBe('ok');
  });
});
