import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUploadToken } from '../../src/index.js';
import { idOf, listTree, sha256 } from '../helpers/files.js';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

const SECRET = 'jwt-secret-for-the-ownership-tests-0123456789';
const SIGNING = 'upload-token-secret-for-the-ownership-tests-01';
const key = new TextEncoder().encode(SECRET);
const jwt = (sub: string, extra: Record<string, unknown> = {}) =>
  new SignJWT({ ...extra }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(key);
const auth = (token: string) => ({ Authorization: `Bearer ${token}` });

describe('auth, ownership and quotas through real tus requests', () => {
  let server: RunningTusport;
  let alice: string;
  let bob: string;
  let admin: string;

  beforeAll(async () => {
    [alice, bob, admin] = await Promise.all([jwt('alice'), jwt('bob'), jwt('root', { role: 'admin' })]);
    server = await startTusport((dir) => ({
      endpoints: [
        {
          path: '/users/{username}/uploads',
          store: { type: 'disk', directory: path.join(dir, 'users', '{username}') },
          auth: { type: 'jwt', secret: SECRET, bind: { username: 'sub' }, admin: { claim: 'role', value: 'admin' } },
        },
        {
          path: '/shared',
          store: { type: 'disk', directory: path.join(dir, 'shared') },
          auth: { type: 'jwt', secret: SECRET, admin: { claim: 'role', value: 'admin' } },
          policy: { quota: { maxUnfinishedUploads: 2, maxBytesInFlight: 1000 } },
        },
        {
          path: '/drop/{username}',
          store: { type: 'disk', directory: path.join(dir, 'drop', '{username}') },
          auth: { type: 'signed', secret: SIGNING },
        },
      ],
    }));
  });
  afterAll(() => server.close());

  it('refuses requests without credentials with 401 and a WWW-Authenticate challenge; preflight needs none', async () => {
    const before = await listTree(server.dir);
    const response = await raw(server.url, { method: 'POST', path: '/users/alice/uploads', headers: { ...TUS, 'Upload-Length': '1' } });
    expect(response.status).toBe(401);
    expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="tusport"/);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_UNAUTHORIZED');
    const forged = await raw(server.url, { method: 'POST', path: '/users/alice/uploads', headers: { ...TUS, 'Upload-Length': '1', ...auth(`${alice.slice(0, -3)}abc`) } });
    expect(forged.status).toBe(401);
    expect(forged.body).not.toContain(alice.slice(0, 20));
    const preflight = await raw(server.url, {
      method: 'OPTIONS',
      path: '/users/alice/uploads',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization,tus-resumable' },
    });
    expect(preflight.status).toBe(204);
    const discovery = await raw(server.url, { method: 'OPTIONS', path: '/users/alice/uploads' });
    expect(discovery.headers['tus-version']).toBe('1.0.0');
    expect(await listTree(server.dir)).toEqual(before);
  });

  it("bind: alice's token cannot use /users/bob/uploads (403)", async () => {
    const response = await raw(server.url, { method: 'POST', path: '/users/bob/uploads', headers: { ...TUS, 'Upload-Length': '1', ...auth(alice) } });
    expect(response.status).toBe(403);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_FORBIDDEN');
  });

  it("records the owner server-side; another user with a valid token gets 404 on every method of alice's upload, which stays intact", async () => {
    const created = await raw(server.url, {
      method: 'POST',
      path: '/shared',
      headers: { ...TUS, 'Upload-Length': '10', 'Upload-Metadata': `owner ${Buffer.from('bob').toString('base64')}`, ...auth(alice) },
    });
    expect(created.status).toBe(201);
    const uploadPath = new URL(String(created.headers.location)).pathname;
    const id = idOf(uploadPath);
    const patchAs = (token: string, offset: number, body: string) =>
      raw(server.url, { method: 'PATCH', path: uploadPath, headers: { ...TUS, ...auth(token), 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }, body });
    expect((await patchAs(alice, 0, 'alice')).status).toBe(204);
    const sidecar = JSON.parse(await readFile(path.join(server.dir, 'shared', `${id}.json`), 'utf8'));
    expect(sidecar.tusport.owner).toBe('alice');
    expect(sidecar.metadata.owner).toBe('bob'); // client metadata is data, never the owner

    const before = await listTree(server.dir);
    const asBob = [
      await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...auth(bob) } }),
      await patchAs(bob, 5, 'bob!!'),
      await raw(server.url, { method: 'GET', path: uploadPath, headers: auth(bob) }),
      await raw(server.url, { method: 'DELETE', path: uploadPath, headers: { ...TUS, ...auth(bob) } }),
      await raw(server.url, { method: 'POST', path: uploadPath, headers: { ...TUS, ...auth(bob), 'X-HTTP-Method-Override': 'DELETE' } }),
    ];
    expect(asBob.map((r) => r.status)).toEqual([404, 404, 404, 404, 404]);
    expect(await listTree(server.dir)).toEqual(before);
    const head = await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...auth(alice) } });
    expect(head.headers['upload-offset']).toBe('5');
    expect(await readFile(path.join(server.dir, 'shared', id), 'utf8')).toBe('alice');
    // An admin sees it; alice finishes it.
    expect((await raw(server.url, { method: 'HEAD', path: uploadPath, headers: { ...TUS, ...auth(admin) } })).status).toBe(200);
    expect((await patchAs(alice, 5, 'done!')).status).toBe(204);
    expect((await raw(server.url, { method: 'GET', path: uploadPath, headers: auth(alice) })).body).toBe('alicedone!');
  });

  it('quotas: unfinished uploads per principal (429) and bytes in flight (413), counted per principal and freed by finishing', async () => {
    const create = (token: string, length: number) =>
      raw(server.url, { method: 'POST', path: '/shared', headers: { ...TUS, 'Upload-Length': String(length), ...auth(token) } });
    // Principals of this test alone: no other test's unfinished uploads count against them.
    const [alice, bob] = await Promise.all([jwt('quota-alice'), jwt('quota-bob')]);
    const first = await create(alice, 400);
    const second = await create(alice, 500);
    expect([first.status, second.status]).toEqual([201, 201]);
    const third = await create(alice, 1);
    expect(third.status).toBe(429);
    expect(errorOf(third)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_UPLOADS', message: expect.stringContaining('at most 2 unfinished uploads') });
    // bob's quota is his own.
    const bobs = await create(bob, 1000);
    expect(bobs.status).toBe(201);
    const over = await create(bob, 1);
    expect(over.status).toBe(413);
    expect(errorOf(over)).toMatchObject({ code: 'TUSPORT_ERR_QUOTA_BYTES', message: expect.stringContaining('up to 1000 bytes; this one would make 1001') });
    // Finishing one of alice's frees a slot.
    const firstPath = new URL(String(first.headers.location)).pathname;
    const finish = await raw(server.url, {
      method: 'PATCH',
      path: firstPath,
      headers: { ...TUS, ...auth(alice), 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' },
      body: Buffer.alloc(400, 7),
    });
    expect(finish.status).toBe(204);
    expect((await create(alice, 1)).status).toBe(201);
    // Deleting one frees a slot too.
    const secondPath = new URL(String(second.headers.location)).pathname;
    expect((await raw(server.url, { method: 'DELETE', path: secondPath, headers: { ...TUS, ...auth(alice) } })).status).toBe(204);
    expect((await create(alice, 1)).status).toBe(201);
  });

  it('signed upload tokens: scoped to endpoint, params, size and types; usable from tus-js-client', async () => {
    const token = signUploadToken({ secret: SIGNING, principal: 'carol', endpoint: '/drop/{username}', params: { username: 'carol' }, maxSize: 100, accept: ['.txt'], expiresIn: 60_000 });
    const data = Buffer.from('a small text file');
    const { url } = await tusUpload(data, { endpoint: `${server.url}/drop/carol`, headers: auth(token), metadata: { filename: 'note.txt' } });
    expect(sha256(await readFile(path.join(server.dir, 'drop', 'carol', idOf(url))))).toBe(sha256(data));
    const wrongUser = await raw(server.url, { method: 'POST', path: '/drop/dave', headers: { ...TUS, 'Upload-Length': '5', ...auth(token) } });
    expect(wrongUser.status).toBe(403);
    const tooBig = await raw(server.url, { method: 'POST', path: '/drop/carol', headers: { ...TUS, 'Upload-Length': '101', ...auth(token) } });
    expect(tooBig.status).toBe(403);
    const wrongType = await raw(server.url, {
      method: 'POST',
      path: '/drop/carol',
      headers: { ...TUS, 'Upload-Length': '5', 'Upload-Metadata': `filename ${Buffer.from('x.exe').toString('base64')}`, ...auth(token) },
    });
    expect(wrongType.status).toBe(415);
    // Declared as text but the bytes are a PNG: the token's accept is checked at finish too.
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(50)]);
    const disguised = await tusUpload(png, { endpoint: `${server.url}/drop/carol`, headers: auth(token), metadata: { filename: 'note.txt' } }).then(
      () => undefined,
      (error: Error) => error,
    );
    expect(disguised?.message).toMatch(/response code: 415/);
    const expired = signUploadToken({ secret: SIGNING, principal: 'carol', endpoint: '/drop/{username}', params: { username: 'carol' }, now: Date.now() - 120_000, expiresIn: 60_000 });
    const late = await raw(server.url, { method: 'POST', path: '/drop/carol', headers: { ...TUS, 'Upload-Length': '5', ...auth(expired) } });
    expect(late.status).toBe(401);
    const forged = signUploadToken({ secret: 'another-secret-of-sufficient-length-000000', principal: 'carol', endpoint: '/drop/{username}', params: { username: 'carol' }, expiresIn: 60_000 });
    expect((await raw(server.url, { method: 'POST', path: '/drop/carol', headers: { ...TUS, 'Upload-Length': '5', ...auth(forged) } })).status).toBe(401);
  });
});
