import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idOf, sha256 } from '../helpers/files.js';
import { errorOf, patch, raw, type RawResponse, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Finding 6 of issue 11: a request that will be refused must never touch the upload's lock. Before
 * the fix the lock was taken first, so anyone who knew an id (another user, an anonymous client,
 * the same id under another endpoint's URL) made the owner's PATCH hand over and got their 404
 * only after the 3 s drain, which also told them the upload was busy.
 */
const SECRET = 'jwt-secret-for-the-lock-authorization-tests-0123';
const key = new TextEncoder().encode(SECRET);
const jwt = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(key);
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const SIZE = 256 * 1024;

describe('authorize before the lock: strangers never disturb an in-flight PATCH', () => {
  let server: RunningTusport;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    [alice, bob] = await Promise.all([jwt('alice'), jwt('bob')]);
    server = await startTusport((dir) => ({
      endpoints: [
        { path: '/shared', store: { type: 'disk', directory: path.join(dir, 'shared') }, auth: { type: 'jwt', secret: SECRET } },
        {
          path: '/users/{username}/uploads',
          store: { type: 'disk', directory: path.join(dir, 'users', '{username}') },
          auth: { type: 'jwt', secret: SECRET, bind: { username: 'sub' } },
        },
        // Anonymous, and the same directory as /shared: only the sidecar's endpoint tells them apart.
        { path: '/open', store: { type: 'disk', directory: path.join(dir, 'shared') } },
      ],
    }));
  });
  afterAll(() => server.close());

  /** Wait until the server has written `bytes` of the upload: the owner's PATCH holds the lock. */
  async function waitForBytes(id: string, bytes: number): Promise<void> {
    const file = path.join(server.dir, 'shared', id);
    for (;;) {
      const size = await stat(file).then((s) => s.size, () => -1);
      if (size >= bytes) return;
      await sleep(5);
    }
  }

  it("another principal's, an anonymous client's and another endpoint's requests get 404 while the owner's PATCH goes on to the end", async () => {
    const data = randomBytes(SIZE);
    const created = await raw(server.url, { method: 'POST', path: '/shared', headers: { ...TUS, 'Upload-Length': SIZE, ...bearer(alice) } });
    expect(created.status).toBe(201);
    const uploadPath = new URL(String(created.headers.location)).pathname;
    const id = idOf(uploadPath);

    // The owner's PATCH, held open mid-body.
    const body = new PassThrough();
    let settled = false;
    const owner = patch(server.url, uploadPath, 0, body, bearer(alice)).finally(() => {
      settled = true;
    });
    body.write(data.subarray(0, SIZE / 2));
    await waitForBytes(id, SIZE / 2);

    const strangers: { who: string; method: string; path: string; headers: Record<string, string> }[] = [];
    for (const method of ['HEAD', 'PATCH', 'DELETE', 'GET']) {
      strangers.push({ who: 'bob, same URL', method, path: uploadPath, headers: bearer(bob) });
      strangers.push({ who: 'anonymous, another endpoint', method, path: `/open/${id}`, headers: {} });
      strangers.push({ who: 'bob, his own endpoint', method, path: `/users/bob/uploads/${id}`, headers: bearer(bob) });
    }
    for (const stranger of strangers) {
      const headers = { ...TUS, ...stranger.headers, ...(stranger.method === 'PATCH' ? { 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(SIZE / 2) } : {}) };
      const response: RawResponse = await raw(server.url, { method: stranger.method, path: stranger.path, headers, ...(stranger.method === 'PATCH' ? { body: 'x' } : {}) });
      expect(response.status, `${stranger.who}: ${stranger.method}`).toBe(404);
      if (stranger.method !== 'HEAD') expect(errorOf(response).code).toBe('TUSPORT_ERR_NOT_FOUND');
    }
    // No hand-over: the owner's request is still open, not answered with what it had so far.
    expect(settled).toBe(false);

    body.end(data.subarray(SIZE / 2));
    const answer = await owner;
    expect(answer.status).toBe(204);
    expect(answer.headers['upload-offset']).toBe(String(SIZE));
    const download = await raw(server.url, { method: 'GET', path: uploadPath, headers: bearer(alice) });
    expect(download.status).toBe(200);
    expect(sha256(download.bytes)).toBe(sha256(data));
  });

  it("the owner's own HEAD still takes the upload over (a client resuming after a drop)", async () => {
    const created = await raw(server.url, { method: 'POST', path: '/shared', headers: { ...TUS, 'Upload-Length': SIZE, ...bearer(alice) } });
    const uploadPath = new URL(String(created.headers.location)).pathname;
    const id = idOf(uploadPath);
    const body = new PassThrough();
    const owner = patch(server.url, uploadPath, 0, body, bearer(alice));
    body.write(randomBytes(1000));
    await waitForBytes(id, 1000);
    // The half-dead PATCH is asked to let go; the HEAD then reports what it had stored.
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...bearer(alice) } });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('1000');
    const cut = await owner;
    expect(cut.headers['upload-offset']).toBe('1000');
    body.destroy();
  });
});
