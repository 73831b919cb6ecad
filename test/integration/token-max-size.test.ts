import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUploadToken } from '../../src/index.js';
import { idOf, listTree } from '../helpers/files.js';
import { errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Finding 10 of issue 11: a signed token's maxSize bounds the upload created under it, not just
 * the request that carries it. Before the fix a second valid token without maxSize (same user,
 * same endpoint and params) lifted the limit on a deferred-length upload.
 */
const SIGNING = 'upload-token-secret-for-the-token-max-size-tests';
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const token = (username: string, maxSize?: number) =>
  signUploadToken({ secret: SIGNING, principal: username, endpoint: '/drop/{username}', params: { username }, ...(maxSize !== undefined ? { maxSize } : {}), expiresIn: 60_000 });

describe("a signed token's maxSize is kept with the upload", () => {
  let server: RunningTusport;

  beforeAll(async () => {
    server = await startTusport((dir) => ({
      endpoints: [{ path: '/drop/{username}', store: { type: 'disk', directory: path.join(dir, 'drop', '{username}') }, auth: { type: 'signed', secret: SIGNING } }],
    }));
  });
  afterAll(() => server.close());

  /** A deferred-length upload created under a token allowing 100 bytes. */
  async function createDeferred(username: string): Promise<string> {
    const created = await raw(server.url, { method: 'POST', path: `/drop/${username}`, headers: { ...TUS, 'Upload-Defer-Length': '1', ...bearer(token(username, 100)) } });
    expect(created.status).toBe(201);
    return new URL(String(created.headers.location)).pathname;
  }

  const offsetOf = async (uploadPath: string, auth: Record<string, string>) => {
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...auth } });
    expect(head.status).toBe(200);
    return head.headers;
  };

  it('records the maxSize in the sidecar', async () => {
    const uploadPath = await createDeferred('erin');
    const id = idOf(uploadPath);
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'drop', 'erin', `${id}.json`), 'utf8'));
    expect(sidecar.tusport.maxSize).toBe(100);
  });

  it('a PATCH with a token without maxSize cannot take a deferred upload past the first token\'s 100 bytes', async () => {
    const uploadPath = await createDeferred('frank');
    const unlimited = bearer(token('frank'));
    const tooMuch = await patch(server.url, uploadPath, 0, Buffer.alloc(150, 1), unlimited);
    expect(tooMuch.status).toBe(413);
    expect(errorOf(tooMuch)).toMatchObject({ code: 'TUSPORT_ERR_PAST_MAX_SIZE', message: expect.stringContaining('maxSize of 100 bytes') });
    expect((await offsetOf(uploadPath, unlimited))['upload-offset']).toBe('0');
    // Within the limit the same token works.
    const fits = await patch(server.url, uploadPath, 0, Buffer.alloc(100, 1), { ...unlimited, 'Upload-Length': '100' });
    expect(fits.status).toBe(204);
    expect(fits.headers['upload-offset']).toBe('100');
  });

  it('declaring the length later with a token without maxSize is held to it too (403), and the length stays deferred', async () => {
    const uploadPath = await createDeferred('gina');
    const unlimited = bearer(token('gina'));
    const declared = await patch(server.url, uploadPath, 0, '', { ...unlimited, 'Upload-Length': '500' });
    expect(declared.status).toBe(403);
    expect(errorOf(declared)).toMatchObject({ code: 'TUSPORT_ERR_FORBIDDEN', message: expect.stringContaining('at most 100 bytes') });
    const headers = await offsetOf(uploadPath, unlimited);
    expect(headers['upload-defer-length']).toBe('1');
    expect(headers['upload-offset']).toBe('0');
  });

  it('a deferred-length creation-with-upload body is held to the token\'s maxSize, and nothing is left behind', async () => {
    const created = await raw(server.url, {
      method: 'POST',
      path: '/drop/hank',
      headers: { ...TUS, 'Upload-Defer-Length': '1', 'Content-Type': 'application/offset+octet-stream', ...bearer(token('hank', 100)) },
      body: Buffer.alloc(150, 1),
    });
    expect(created.status).toBe(413);
    expect(created.headers.location).toBeUndefined();
    expect(await listTree(path.join(server.dir, 'drop', 'hank'))).toEqual([]);
  });
});
