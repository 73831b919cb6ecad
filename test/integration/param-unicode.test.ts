import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUploadToken } from '../../src/index.js';
import { idOf, listTree } from '../helpers/files.js';
import { tusMetadata } from '../helpers/hooks.js';
import { errorOf, patch, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/**
 * Finding 11 of issue 11: template params are names people read. One name spelt NFC or NFD
 * (`José`: `e\u0301` is how macOS spells it) must be one user and one directory, and a name with
 * invisible or reordering characters (`ali\u200Bce`, `\u202E`) is refused rather than made a
 * directory that looks like someone else's. Finalized file names lose them too.
 */
const SIGNING = 'upload-token-secret-for-the-param-unicode-tests';
const JWT_SECRET = 'jwt-secret-for-the-param-unicode-tests-0123456789';
const NFC = 'Jos\u00e9';
const NFD = 'Jose\u0301';

describe('template params: NFC, and no invisible or bidi characters', () => {
  let server: RunningTusport;

  beforeAll(async () => {
    server = await startTusport((dir) => ({
      endpoints: [
        {
          path: '/users/{username}/uploads',
          store: { type: 'disk', directory: path.join(dir, 'users', '{username}') },
          finalize: { path: 'done/{filename}' },
        },
        { path: '/drop/{username}', store: { type: 'disk', directory: path.join(dir, 'drop', '{username}') }, auth: { type: 'signed', secret: SIGNING } },
        {
          path: '/home/{username}',
          store: { type: 'disk', directory: path.join(dir, 'home', '{username}') },
          auth: { type: 'jwt', secret: JWT_SECRET, bind: { username: 'sub' } },
        },
      ],
    }));
  });
  afterAll(() => server.close());

  const create = (urlPath: string, headers: Record<string, string> = {}) =>
    raw(server.url, { method: 'POST', path: urlPath, headers: { ...TUS, 'Upload-Length': 3, ...headers } });

  it.each([
    ['zero-width space', 'ali\u200bce'],
    ['right-to-left override', 'evil\u202egnp'],
    ['first-strong isolate', '\u2068alice'],
    ['left-to-right mark', 'alice\u200e'],
    ['byte order mark', '\ufeffalice'],
    ['word joiner', 'al\u2060ice'],
    ['soft hyphen', 'ali\u00adce'],
    ['line separator', 'ali\u2028ce'],
  ])('a param with a %s is a 400 and creates nothing', async (_name, value) => {
    const users = path.join(server.dir, 'users');
    const before = await readdir(users).catch(() => []);
    const response = await create(`/users/${encodeURIComponent(value)}/uploads`);
    expect(response.status).toBe(400);
    expect(errorOf(response)).toMatchObject({ code: 'TUSPORT_ERR_INVALID_PARAM', message: expect.stringContaining('invisible or bidirectional') });
    expect(await readdir(users).catch(() => [])).toEqual(before);
  });

  it('NFC and NFD spellings of one name are one directory and reach the same upload', async () => {
    const viaNfd = await create(`/users/${encodeURIComponent(NFD)}/uploads`);
    expect(viaNfd.status).toBe(201);
    // The Location is in the canonical (NFC) spelling.
    expect(String(viaNfd.headers.location)).toContain(`/users/${encodeURIComponent(NFC)}/uploads/`);
    const id = idOf(String(viaNfd.headers.location));
    const viaNfc = await create(`/users/${encodeURIComponent(NFC)}/uploads`);
    expect(viaNfc.status).toBe(201);
    expect((await readdir(path.join(server.dir, 'users'))).filter((name) => name.normalize('NFC') === NFC)).toEqual([NFC]);
    const head = await raw(server.url, { method: 'HEAD', path: `/users/${encodeURIComponent(NFC)}/uploads/${id}`, headers: TUS });
    expect(head.status).toBe(200);
    const headNfd = await raw(server.url, { method: 'HEAD', path: `/users/${encodeURIComponent(NFD)}/uploads/${id}`, headers: TUS });
    expect(headNfd.status).toBe(200);
  });

  it('ZWJ and ZWNJ, which scripts and emoji need, are kept', async () => {
    for (const value of ['\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645', '\u{1f469}\u200d\u{1f4bb}']) {
      const response = await create(`/users/${encodeURIComponent(value)}/uploads`);
      expect(response.status).toBe(201);
      expect(String(response.headers.location)).toContain(`/users/${encodeURIComponent(value)}/uploads/`);
    }
  });

  it('a finalized name does not keep a zero-width space or a bidi override', async () => {
    const created = await create('/users/zed/uploads', { 'Upload-Metadata': tusMetadata({ filename: 're\u200bport\u202e.txt' }) });
    expect(created.status).toBe(201);
    expect((await patch(server.url, new URL(String(created.headers.location)).pathname, 0, 'abc')).status).toBe(204);
    const finalized = (await listTree(path.join(server.dir, 'users', 'zed'))).filter((name) => name.startsWith('done') && !name.endsWith('.json'));
    expect(finalized).toEqual([path.join('done', 'report.txt')]);
  });

  it('a signed token minted with the NFD spelling opens the NFC and NFD URLs alike', async () => {
    const token = signUploadToken({ secret: SIGNING, principal: 'jose', endpoint: '/drop/{username}', params: { username: NFD }, expiresIn: 60_000 });
    for (const spelling of [NFC, NFD]) {
      const response = await create(`/drop/${encodeURIComponent(spelling)}`, { Authorization: `Bearer ${token}` });
      expect(response.status).toBe(201);
    }
    expect(await readdir(path.join(server.dir, 'drop'))).toEqual([NFC]);
  });

  it('a JWT whose bound claim spells the name NFD opens the NFC and NFD URLs alike', async () => {
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(NFD).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(JWT_SECRET));
    for (const spelling of [NFC, NFD]) {
      const response = await create(`/home/${encodeURIComponent(spelling)}`, { Authorization: `Bearer ${jwt}` });
      expect(response.status).toBe(201);
    }
    expect(await readdir(path.join(server.dir, 'home'))).toEqual([NFC]);
  });
});
