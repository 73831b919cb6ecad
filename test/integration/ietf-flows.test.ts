import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { idOf, listTree, sha256 } from '../helpers/files.js';
import { appendHeaders, appendStatus, completeHeaders, ietfRequest } from '../helpers/ietf-client.js';
import { capturingLogger, type RunningTusport, startTusport } from '../helpers/server.js';
import { until } from '../helpers/wait.js';

/**
 * The IETF draft's flows with a client written to the draft's text (interop 8, -11), and the same
 * flows in interop 3 (-01: Upload-Incomplete, no media type) and 6 (-04/-05: partial-upload):
 * creation with its 104, an interrupted append, offset retrieval, resume, completion, download,
 * cancel; on an authenticated, owner-bound endpoint with hooks, like any tus upload.
 */
const SECRET = 'jwt-secret-for-the-ietf-tests-0123456789abcdef';
const key = new TextEncoder().encode(SECRET);
const jwt = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(key);

let server: RunningTusport;
let alice: Record<string, string>;
let bob: Record<string, string>;
const hookEvents: HookRequest[] = [];
const log = capturingLogger('info');

beforeAll(async () => {
  alice = { Authorization: `Bearer ${await jwt('alice')}` };
  bob = { Authorization: `Bearer ${await jwt('bob')}` };
  const record = async (request: HookRequest) => void hookEvents.push(request);
  server = await startTusport((dir) => ({
    outbox: { directory: path.join(dir, 'outbox') },
    endpoints: [
      {
        path: '/users/{username}/uploads',
        store: { type: 'disk', directory: path.join(dir, 'users', '{username}') },
        auth: { type: 'jwt', secret: SECRET, bind: { username: 'sub' } },
        hooks: [{ type: 'function', handlers: { 'post-create': record, 'post-finish': record, 'post-terminate': record } }],
      },
    ],
  }), { logger: log.logger });
});
afterAll(() => server?.close());

const storedFile = (url: string) => path.join(server.dir, 'users', 'alice', idOf(url));

describe.each([3, 6, 8])('interop version %i', (version) => {
  const v = { 'Upload-Draft-Interop-Version': String(version) };

  it('creates with a 104 before the body is read, survives an interrupted append, resumes from the retrieved offset and completes byte-identical', async () => {
    const data = randomBytes(300_000);
    const created = await ietfRequest(server.url, {
      method: 'POST',
      url: '/users/alice/uploads',
      headers: { ...alice, ...v, ...completeHeaders(version, false), 'Upload-Metadata': `filename ${Buffer.from('a.bin').toString('base64')}` },
      body: data.subarray(0, 100_000),
    });
    expect(created.status).toBe(201);
    expect(created.informational.map((info) => info.status)).toEqual([104]);
    const early = created.informational[0]!.headers;
    expect(early.location).toBe(created.headers.location);
    expect(early['upload-draft-interop-version']).toBe(String(version));
    expect(early['upload-limit']).toBe(version >= 6 ? 'min-size=0' : undefined);
    expect(created.headers['upload-offset']).toBe('100000');
    expect(created.headers['tus-resumable']).toBeUndefined();
    if (version === 3) expect(created.headers['upload-incomplete']).toBe('?1');
    else expect(created.headers['upload-complete']).toBe('?0');
    const url = created.headers.location!;

    // An append whose connection drops half-way: what arrived is kept, nothing more.
    const cut = await ietfRequest(server.url, {
      method: 'PATCH',
      url,
      headers: { ...alice, ...v, ...appendHeaders(version), ...completeHeaders(version, false), 'Upload-Offset': '100000' },
      body: data.subarray(100_000, 200_000),
      cutAfter: 50_000,
    });
    expect(cut.status).toBe(0);
    // The server may still be reading that request: wait until it has given up on it.
    await until(() => log.lines.some((line) => line.uploadId === idOf(url) && String(line.msg).startsWith('PATCH interrupted')), 'the interrupted PATCH to end');
    const head = await ietfRequest(server.url, { method: 'HEAD', url, headers: { ...alice, ...v } });
    expect(head.status).toBe(204);
    expect(head.headers['cache-control']).toBe('no-store');
    const offset = Number(head.headers['upload-offset']);
    expect(offset).toBeGreaterThanOrEqual(100_000);
    expect(offset).toBeLessThanOrEqual(150_000);
    expect((await readFile(storedFile(url))).equals(data.subarray(0, offset))).toBe(true);

    const done = await ietfRequest(server.url, {
      method: 'PATCH',
      url,
      headers: { ...alice, ...v, ...appendHeaders(version), ...completeHeaders(version, true), 'Upload-Offset': String(offset) },
      body: data.subarray(offset),
    });
    expect(done.status).toBe(appendStatus(version));
    expect(done.headers['upload-offset']).toBe(String(data.length));
    if (version === 3) expect(done.headers['upload-incomplete']).toBe('?0');
    else expect(done.headers['upload-complete']).toBe('?1');
    const after = await ietfRequest(server.url, { method: 'HEAD', url, headers: { ...alice, ...v } });
    expect(after.headers['upload-offset']).toBe(String(data.length));
    expect(after.headers['upload-length']).toBe(version >= 6 ? String(data.length) : undefined);

    // An ordinary tusport upload: same download, same sidecar, same hooks (the door in MetaData).
    const download = await fetch(url, { headers: alice });
    expect(sha256(Buffer.from(await download.arrayBuffer()))).toBe(sha256(data));
    const sidecar = JSON.parse(await readFile(`${storedFile(url)}.json`, 'utf8'));
    expect(sidecar.metadata).toEqual({ filename: 'a.bin', 'upload-protocol': `ietf-draft-interop-${version}` });
    await until(() => hookEvents.some((event) => event.Type === 'post-finish' && event.Event.Upload.ID === idOf(url)), 'post-finish');
    const finish = hookEvents.find((event) => event.Type === 'post-finish' && event.Event.Upload.ID === idOf(url))!;
    expect(finish.Event.Upload.MetaData['upload-protocol']).toBe(`ietf-draft-interop-${version}`);
    expect(finish.Event.Upload.Size).toBe(data.length);
  });

  it('keeps a creation whose connection drops after the 104, and the client resumes it from the 104 Location', async () => {
    const data = randomBytes(200_000);
    const created = await ietfRequest(server.url, {
      method: 'POST',
      url: '/users/alice/uploads',
      headers: { ...alice, ...v, ...completeHeaders(version, true) },
      body: data,
      cutAfter: 80_000,
      cutOnInformational: true,
    });
    expect(created.status).toBe(0);
    const url = created.informational[0]?.headers.location;
    expect(url).toMatch(/\/users\/alice\/uploads\/[0-9a-f]{44}$/);
    const head = await ietfRequest(server.url, { method: 'HEAD', url: url!, headers: { ...alice, ...v } });
    expect(head.status).toBe(204);
    const offset = Number(head.headers['upload-offset']);
    expect(offset).toBeLessThanOrEqual(80_000);
    const done = await ietfRequest(server.url, {
      method: 'PATCH',
      url: url!,
      headers: { ...alice, ...v, ...appendHeaders(version), ...completeHeaders(version, true), 'Upload-Offset': String(offset) },
      body: data.subarray(offset),
    });
    expect(done.status).toBe(appendStatus(version));
    expect(sha256(await readFile(storedFile(url!)))).toBe(sha256(data));
  });

  it("cancels with DELETE; another user's upload is not found and stays", async () => {
    const created = await ietfRequest(server.url, {
      method: 'POST',
      url: '/users/alice/uploads',
      headers: { ...alice, ...v, ...completeHeaders(version, false) },
      body: Buffer.from('first part'),
    });
    const url = created.headers.location!;
    // Bob may not see, append to or cancel Alice's upload (the URL names her; his token does not).
    const bobsUrl = url.replace('/users/alice/', '/users/bob/');
    for (const method of ['HEAD', 'PATCH', 'DELETE']) {
      const append = method === 'PATCH' ? { ...appendHeaders(version), ...completeHeaders(version, true), 'Upload-Offset': '10' } : {};
      const foreign = await ietfRequest(server.url, { method, url: bobsUrl, headers: { ...bob, ...v, ...append }, body: method === 'PATCH' ? Buffer.from('x') : undefined });
      expect(foreign.status).toBe(404);
    }
    expect((await readFile(storedFile(url))).toString()).toBe('first part');
    const cancelled = await ietfRequest(server.url, { method: 'DELETE', url, headers: { ...alice, ...v } });
    expect(cancelled.status).toBe(204);
    expect(await listTree(path.join(server.dir, 'users', 'alice'))).not.toContain(idOf(url));
    expect((await ietfRequest(server.url, { method: 'HEAD', url, headers: { ...alice, ...v } })).status).toBe(404);
  });
});

it('serves interop 4, 5 and 7 too: a complete upload in one creation, its state spelled as the version says', async () => {
  for (const version of [4, 5, 7]) {
    const data = randomBytes(1000);
    const created = await ietfRequest(server.url, {
      method: 'POST',
      url: '/users/alice/uploads',
      headers: { ...alice, 'Upload-Draft-Interop-Version': String(version), 'Upload-Complete': '?1' },
      body: data,
    });
    expect(created.status).toBe(201);
    expect(created.informational[0]?.headers['upload-limit']).toBe(version >= 6 ? 'min-size=0' : undefined);
    expect(created.headers['upload-complete']).toBe('?1');
    expect(created.headers['upload-length']).toBe(version >= 6 ? '1000' : undefined);
    expect(sha256(await readFile(storedFile(created.headers.location!)))).toBe(sha256(data));
  }
});
