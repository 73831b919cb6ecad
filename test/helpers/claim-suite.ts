import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { EndpointConfigInput, TusportConfig } from '../../src/index.js';
import { idOf, randomFile, sha256 } from './files.js';
import { curlForm } from './form.js';
import { errorOf, raw, type RawResponse, TUS } from './http.js';
import { type RunningTusport, tempDir } from './server.js';
import { tusUpload } from './tus-client.js';
import { until } from './wait.js';

/**
 * Upload now, claim later, on any store (run by test/integration/claim.test.ts on disk and
 * test/s3/claim.test.ts on Ceph RGW): uploads of a `claim` endpoint finish but are not finalized
 * and fire no post-finish until claimed; unclaimed ones are swept after `claim.ttl`; a claim and
 * the sweep racing leave exactly one outcome.
 */

export const ALICE = 'alice-claim-token-0123456789';
export const BOB = 'bob-claim-token-0123456789ab';
export const ROOT = 'root-claim-token-0123456789a';

/** post-finish deliveries per upload id, recorded by the endpoints' function hook. */
export const postFinish = new Map<string, number>();
/** Set by a test to hold a claim inside completion (under the upload's lock) until it resolves. */
export const hold: { gate?: Promise<void> | undefined; entered?: (() => void) | undefined } = {};

const auth = {
  type: 'bearer' as const,
  tokens: [
    { id: 'alice', token: ALICE },
    { id: 'bob', token: BOB },
    { id: 'root', token: ROOT },
  ],
  admin: { claim: 'sub', value: 'root' },
};
const hooks = [{ type: 'function' as const, handlers: { 'post-finish': (request: { Event: { Upload: { ID: string } } }) => void postFinish.set(request.Event.Upload.ID, (postFinish.get(request.Event.Upload.ID) ?? 0) + 1) } }];

/** The suite's endpoints on `store(name)`: `/files` (ttl 1h, finalize, allowPath) and `/quick` (ttl 1 ms). */
export function claimConfig(store: (name: string) => EndpointConfigInput['store']): TusportConfig {
  return {
    endpoints: [
      {
        path: '/files',
        store: store('files'),
        auth,
        hooks,
        finalize: { path: 'final/{id}-{filename}' },
        claim: { ttl: '1h', allowPath: true },
        form: true,
        onUploadDone: async () => {
          if (!hold.gate) return;
          hold.entered?.();
          await hold.gate;
        },
      },
      { path: '/quick', store: store('quick'), auth, hooks, claim: { ttl: '1ms' } },
    ],
  };
}

export interface ClaimSuiteOptions {
  server: () => RunningTusport;
  /** Store entries (file paths / object keys, relative to the store) whose name contains upload `id`. */
  entries: (id: string) => Promise<string[]>;
  /** Whether the `/files` store holds a file or object at `relative`. */
  has: (relative: string) => Promise<boolean>;
}

const as = (token: string) => ({ Authorization: `Bearer ${token}` });

export function claimSuite(options: ClaimSuiteOptions): void {
  const server = () => options.server();
  const upload = async (data: Buffer, endpoint = '/files', token = ALICE) => {
    const { url } = await tusUpload(data, { endpoint: `${server().url}${endpoint}`, headers: as(token), metadata: { filename: 'photo.jpg', filetype: 'image/jpeg' }, chunkSize: 64 * 1024 });
    return new URL(url).pathname;
  };
  const claim = (urlPath: string, body?: unknown, token = ALICE, headers: Record<string, string> = {}): Promise<RawResponse> =>
    raw(server().url, {
      method: 'POST',
      path: `${urlPath}/claim`,
      headers: { ...as(token), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
  const expectError = (response: RawResponse, status: number, code: string) => {
    expect(response.status, response.body).toBe(status);
    expect(errorOf(response).code).toBe(code);
  };

  describe('before the claim', () => {
    it('a finished upload (tus-js-client) is complete and downloadable by its owner, but not finalized and not announced', async () => {
      const data = randomBytes(200_000);
      const url = await upload(data);
      const id = idOf(url);
      const head = await raw(server().url, { method: 'HEAD', path: url, headers: { ...TUS, ...as(ALICE) } });
      expect(head.headers['upload-offset']).toBe(String(data.length));
      const download = await raw(server().url, { method: 'GET', path: url, headers: as(ALICE) });
      expect(sha256(download.bytes)).toBe(sha256(data));
      expect((await options.entries(id)).some((entry) => entry.includes('final/'))).toBe(false);
      await server().app.tusport.sweep(); // a sweep before the ttl leaves it alone
      expect((await raw(server().url, { method: 'GET', path: url, headers: as(ALICE) })).status).toBe(200);
      expect(postFinish.get(id)).toBeUndefined();
    });
  });

  describe('a form upload (curl -F) on a claim endpoint', () => {
    it('waits unclaimed like a tus upload (not finalized, no post-finish), then the claim finalizes it whole', async () => {
      const scratch = await tempDir('tusport-claim-form-');
      const { file, data } = await randomFile(scratch.dir, 'scan.jpg', 30_000);
      const posted = await curlForm(`${server().url}/files`, ['title=Scan', `file=@${file};type=image/jpeg`], as(ALICE)).finally(() => scratch.remove());
      expect(posted.status, posted.body).toBe(201);
      const answer = JSON.parse(posted.body) as { id: string; url: string };
      const url = new URL(answer.url).pathname;
      expect(url).toBe(`/files/${answer.id}`);
      expect((await options.entries(answer.id)).some((entry) => entry.includes('final/'))).toBe(false);
      expect(postFinish.get(answer.id)).toBeUndefined();
      const claimed = await claim(url);
      expect(claimed.status, claimed.body).toBe(200);
      expect(JSON.parse(claimed.body)).toMatchObject({ id: answer.id, size: data.length, location: `final/${answer.id}-scan.jpg`, claimedBy: 'alice', metadata: { title: 'Scan' } });
      expect(await options.has(`final/${answer.id}-scan.jpg`)).toBe(true);
      await until(() => postFinish.get(answer.id) === 1, 'post-finish after the claim');
      const download = await raw(server().url, { method: 'GET', path: url, headers: as(ALICE) });
      expect(sha256(download.bytes)).toBe(sha256(data));
    });
  });

  describe('POST <upload URL>/claim', () => {
    it('by the owner: finalized, recorded, post-finish once, answered with the final location; a second claim answers the same', async () => {
      const data = randomBytes(100_000);
      const url = await upload(data);
      const id = idOf(url);
      const first = await claim(url, { metadata: { title: 'Summer' } });
      expect(first.status, first.body).toBe(200);
      const answer = JSON.parse(first.body);
      expect(answer).toMatchObject({ id, size: data.length, location: `final/${id}-photo.jpg`, claimedBy: 'alice', metadata: { filename: 'photo.jpg', title: 'Summer' } });
      expect(answer.url).toBe(`${server().url}${url}`);
      expect(Date.parse(answer.claimedAt)).toBeGreaterThan(Date.now() - 60_000);
      expect((await options.entries(id)).some((entry) => entry.endsWith(`final/${id}-photo.jpg`))).toBe(true);
      await until(() => postFinish.get(id) === 1, 'post-finish after the claim');
      const again = await claim(url, { metadata: { title: 'Other' } });
      expect(again.status).toBe(200);
      expect(JSON.parse(again.body)).toEqual(answer);
      const download = await raw(server().url, { method: 'GET', path: url, headers: as(ALICE) });
      expect(sha256(download.bytes)).toBe(sha256(data));
      await server().app.tusport.sweep(Date.now() + 3 * 3600_000); // claimed uploads are never swept
      expect((await raw(server().url, { method: 'GET', path: url, headers: as(ALICE) })).status).toBe(200);
      expect(postFinish.get(id)).toBe(1);
    });

    it('with a path (claim.allowPath): the file goes there; a path leaving the store is 400 with nothing changed', async () => {
      const url = await upload(randomBytes(1000));
      const id = idOf(url);
      expectError(await claim(url, { path: '../outside/{id}' }), 400, 'TUSPORT_ERR_CLAIM_INVALID');
      const response = await claim(url, { path: 'albums/2026/{filename}' });
      expect(response.status, response.body).toBe(200);
      expect(JSON.parse(response.body).location).toBe('albums/2026/photo.jpg');
      expect(await options.has('albums/2026/photo.jpg')).toBe(true);
      expect(await options.entries(id)).not.toContain(id);
    });

    it('by an admin: allowed, recorded as the admin', async () => {
      const url = await upload(randomBytes(10));
      const response = await claim(url, {}, ROOT);
      expect(response.status).toBe(200);
      expect(JSON.parse(response.body).claimedBy).toBe('root');
    });

    it.each([
      ['someone else (404: not revealed)', async (url: string) => claim(url, {}, BOB), 404, 'TUSPORT_ERR_NOT_FOUND'],
      ['no token', async (url: string) => raw(server().url, { method: 'POST', path: `${url}/claim` }), 401, 'TUSPORT_ERR_UNAUTHORIZED'],
      ['malformed JSON', async (url: string) => claim(url, '{"path":'), 400, 'TUSPORT_ERR_CLAIM_INVALID'],
      ['an unknown field', async (url: string) => claim(url, { owner: 'bob' }), 400, 'TUSPORT_ERR_CLAIM_INVALID'],
      ['non-string metadata', async (url: string) => claim(url, { metadata: { n: 1 } }), 400, 'TUSPORT_ERR_CLAIM_INVALID'],
      ['a body that is not JSON', async (url: string) => claim(url, 'path=x', ALICE, { 'Content-Type': 'application/x-www-form-urlencoded' }), 400, 'TUSPORT_ERR_CLAIM_INVALID'],
    ])('refused: %s, and the upload stays unclaimed', async (_label, send, status, code) => {
      const url = await upload(randomBytes(10));
      expectError(await send(url), status, code);
      expect(postFinish.get(idOf(url))).toBeUndefined();
      expect((await options.entries(idOf(url))).some((entry) => entry.includes('final/'))).toBe(false);
      expect((await claim(url)).status).toBe(200);
    });

    it('an unfinished upload: 409 with its offset, nothing changed', async () => {
      const created = await raw(server().url, { method: 'POST', path: '/files', headers: { ...TUS, ...as(ALICE), 'Upload-Length': 10, 'Content-Type': 'application/offset+octet-stream' }, body: 'abcd' });
      const url = new URL(String(created.headers.location)).pathname;
      const response = await claim(url);
      expectError(response, 409, 'TUSPORT_ERR_CLAIM_UNFINISHED');
      expect(errorOf(response).message).toMatch(/4 of 10 bytes/);
      const head = await raw(server().url, { method: 'HEAD', path: url, headers: { ...TUS, ...as(ALICE) } });
      expect(head.headers['upload-offset']).toBe('4');
    });

    it('past claim.ttl: 410 TUSPORT_ERR_CLAIM_EXPIRED; the sweep then removes it (404 after)', async () => {
      const url = await upload(randomBytes(5000), '/quick');
      const id = idOf(url);
      expectError(await claim(url), 410, 'TUSPORT_ERR_CLAIM_EXPIRED');
      expect(await options.entries(id)).not.toEqual([]);
      const result = await server().app.tusport.sweep();
      expect(result.expired).toBeGreaterThanOrEqual(1);
      expect(await options.entries(id)).toEqual([]);
      expectError(await claim(url), 404, 'TUSPORT_ERR_NOT_FOUND');
      expect(postFinish.get(id)).toBeUndefined();
    });

    it('a claim route exists only on claim endpoints', async () => {
      const response = await raw(server().url, { method: 'POST', path: '/nothing/abc/claim', headers: as(ALICE) });
      expect(response.status).toBe(404);
    });
  });

  describe('app.tusport.claim (the app\'s form handler)', () => {
    it('claims any user\'s upload, with a path and metadata, idempotently; unknown endpoints and ids are coded errors', async () => {
      const url = await upload(randomBytes(3000), '/files', BOB);
      const id = idOf(url);
      const result = await server().app.tusport.claim('/files', id, { by: 'form-handler', path: 'forms/{id}.jpg', metadata: { form: 'signup' } });
      expect(result).toMatchObject({ id, size: 3000, location: `forms/${id}.jpg`, claimedBy: 'form-handler', metadata: { form: 'signup' } });
      expect(await server().app.tusport.claim('/files', id)).toEqual(result);
      await until(() => postFinish.get(id) === 1, 'post-finish');
      await expect(server().app.tusport.claim('/nowhere', id)).rejects.toMatchObject({ code: 'TUSPORT_ERR_CLAIM_ENDPOINT', statusCode: 404 });
      await expect(server().app.tusport.claim('/files', 'no-such-id')).rejects.toMatchObject({ code: 'TUSPORT_ERR_NOT_FOUND' });
      await expect(server().app.tusport.claim('/files', id, { params: { user: 'x' } })).rejects.toMatchObject({ code: 'TUSPORT_ERR_CLAIM_INVALID' });
    });
  });

  describe('the sweep and claims', () => {
    it('removes unclaimed uploads older than the ttl, never claimed ones', async () => {
      const kept = await upload(randomBytes(100));
      const dropped = await upload(randomBytes(100));
      expect((await claim(kept)).status).toBe(200);
      const result = await server().app.tusport.sweep(Date.now() + 2 * 3600_000);
      expect(result.expired).toBeGreaterThanOrEqual(1);
      expect(await options.entries(idOf(dropped))).toEqual([]);
      expect((await raw(server().url, { method: 'GET', path: kept, headers: as(ALICE) })).status).toBe(200);
    });

    it('a claim holding the upload makes the sweep wait, then find it claimed: the claim wins, whole', async () => {
      const url = await upload(randomBytes(100));
      const id = idOf(url);
      let release!: () => void;
      const entered = new Promise<void>((resolve) => {
        hold.entered = resolve;
      });
      hold.gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      try {
        const claiming = claim(url);
        await entered; // the claim is inside completion, under the upload's lock
        const sweeping = server().app.tusport.sweep(Date.now() + 2 * 3600_000);
        release();
        const [response] = await Promise.all([claiming, sweeping]);
        expect(response.status, response.body).toBe(200);
      } finally {
        hold.gate = undefined;
        hold.entered = undefined;
      }
      expect((await options.entries(id)).some((entry) => entry.endsWith(`final/${id}-photo.jpg`))).toBe(true);
      await until(() => postFinish.get(id) === 1, 'post-finish');
    });

    it('claims arriving while the sweep removes 12 uploads: each is either claimed whole or removed whole, never half', async () => {
      const urls = await Promise.all(Array.from({ length: 12 }, () => upload(randomBytes(2000))));
      // The claims are sent once the sweep has removed the first of these uploads, so they meet it
      // half-way through them: which side gets each upload depends on timing; either way each
      // upload ends whole.
      const sweeping = server().app.tusport.sweep(Date.now() + 2 * 3600_000);
      const removed = async () => (await Promise.all(urls.map(async (url) => (await options.entries(idOf(url))).length === 0))).some(Boolean);
      await until(removed, 'the sweep to remove one of the uploads');
      const [swept, responses] = await Promise.all([sweeping, Promise.all(urls.map((url) => claim(url)))]);
      let claimed = 0;
      for (const [index, response] of responses.entries()) {
        const id = idOf(urls[index]!);
        const entries = await options.entries(id);
        if (response.status === 200) {
          claimed += 1;
          expect(entries.some((entry) => entry.endsWith(`final/${id}-photo.jpg`))).toBe(true);
          await until(() => postFinish.get(id) === 1, 'post-finish');
        } else {
          expectError(response, 404, 'TUSPORT_ERR_NOT_FOUND');
          expect(entries).toEqual([]);
          expect(postFinish.get(id)).toBeUndefined();
        }
      }
      expect(claimed).toBeLessThan(12);
      expect(claimed + swept.expired).toBeGreaterThanOrEqual(12);
    });
  });
}
