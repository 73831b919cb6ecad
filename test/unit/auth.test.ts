import { createHash, timingSafeEqual } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AuthConfigError, createAuthenticator } from '../../src/auth/authenticate.js';
import { AuthErrors } from '../../src/auth/errors.js';
import { type AuthConfig, AuthSchema } from '../../src/auth/schema.js';
import { checkSignedScope, checkSignedSize, signUploadToken, verifyUploadToken } from '../../src/auth/signed-token.js';
import { bearer, body, closeAll, create, expect401, expect403, principalOf, now, SECRET, start, TEMPLATE } from '../helpers/auth.js';
import { tempDir } from '../helpers/server.js';

// Wrapped, not replaced: lets a test count comparisons on the bearer path.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, default: actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
afterAll(closeAll);

describe('signed upload tokens', () => {
  const mint = (extra: Partial<Parameters<typeof signUploadToken>[0]> = {}) =>
    signUploadToken({ secret: SECRET, principal: 'alice', endpoint: TEMPLATE, params: { username: 'alice' }, expiresIn: 60_000, ...extra });

  it('round-trip: v1.<payload>.<mac> carrying sub, endpoint, params, limits, exp and iat', () => {
    const token = mint({ maxSize: 1000, accept: ['image/*'], now: 1_700_000_000_000 });
    expect(token).toMatch(/^v1\.[\w-]+\.[\w-]+$/);
    expect(verifyUploadToken(token, SECRET, 1_700_000_030_000)).toEqual({
      sub: 'alice', endpoint: TEMPLATE, params: { username: 'alice' }, maxSize: 1000, accept: ['image/*'], iat: 1_700_000_000, exp: 1_700_000_060,
    });
  });

  it('expired, not yet valid, tampered, wrong secret and malformed tokens are 401s', () => {
    const token = mint({ now: 1_700_000_000_000 });
    const [, payload, mac] = token.split('.');
    const forgedPayload = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload ?? '', 'base64url').toString()), params: { username: 'bob' } })).toString('base64url');
    const cases: [string, number, RegExp][] = [
      [token, 1_700_000_070_000, /expired/],
      [token, 1_699_999_000_000, /not valid yet/],
      [`v1.${forgedPayload}.${mac}`, 1_700_000_000_000, /signature/],
      [mint({ secret: 'another-secret-of-enough-length-000000', now: 1_700_000_000_000 }), 1_700_000_000_000, /signature/],
      ['', 1_700_000_000_000, /malformed/],
      ['v1.abc', 1_700_000_000_000, /malformed/],
      [`v2.${payload}.${mac}`, 1_700_000_000_000, /version/],
    ];
    for (const [candidate, at, message] of cases) {
      expect(() => verifyUploadToken(candidate, SECRET, at)).toThrow(message);
      try {
        verifyUploadToken(candidate, SECRET, at);
      } catch (error) {
        expect(error).toMatchObject({ statusCode: 401, code: 'TUSPORT_ERR_UNAUTHORIZED' });
      }
    }
    // Within the 5 s clock tolerance.
    expect(verifyUploadToken(token, SECRET, 1_700_000_063_000).sub).toBe('alice');
  });

  it('refuses to mint tokens that could never match', () => {
    expect(() => mint({ params: {} })).toThrow(/needs a value for \{username\}/);
    expect(() => mint({ params: { username: 'a', other: 'b' } })).toThrow(/has no param \{other\}/);
    expect(() => mint({ params: { username: '..' } })).toThrow(/param username/);
    expect(() => mint({ expiresAt: new Date() })).toThrow(/exactly one/);
    expect(() => mint({ endpoint: 'files' })).toThrow(/must start with/);
  });

  it('checkSignedScope: exact endpoint and params, else 403', () => {
    const scope = { endpoint: TEMPLATE, params: { username: 'alice' }, exp: now() + 60 };
    expect(() => checkSignedScope(scope, `${TEMPLATE}/`, { username: 'alice' })).not.toThrow();
    expect(() => checkSignedScope(scope, '/files', {})).toThrow(expect.objectContaining({ statusCode: 403 }));
    expect(() => checkSignedScope(scope, TEMPLATE, { username: 'bob' })).toThrow(expect.objectContaining({ statusCode: 403 }));
    expect(() => checkSignedScope(scope, TEMPLATE, { username: 'alice', extra: 'x' })).toThrow(/\{extra\}/);
    expect(() => checkSignedSize({ ...scope, maxSize: 10 }, 11)).toThrow(expect.objectContaining({ statusCode: 403 }));
    expect(() => checkSignedSize({ ...scope, maxSize: 10 }, 10)).not.toThrow();
  });
});

describe('auth none', () => {
  it('lets everyone through with a null principal and no challenge', async () => {
    const url = await start({ type: 'none' });
    const response = await create(url, '/users/x/uploads');
    expect(response.status).toBe(201);
    expect(principalOf(response)).toBeNull();
    expect(response.headers['www-authenticate']).toBeUndefined();
  });
});

describe('auth bearer', () => {
  const T = { alice: 'alice-token-0123456789', bob: 'bob-token-0123456789ab', carol: 'carol-token-0123456789', dave: 'dave-token-01234567890', ops: 'ops-token-0123456789abc' };
  let url: string;
  let cleanup: () => Promise<void>;
  beforeAll(async () => {
    const { dir, remove } = await tempDir();
    cleanup = remove;
    await writeFile(`${dir}/tokens`, `# id:token\ncarol:${T.carol}\n\n`);
    process.env.TUSPORT_TEST_TOKENS = `dave:${T.dave}, ops:${T.ops}`;
    url = await start({
      type: 'bearer',
      tokens: [{ id: 'alice', token: T.alice }, { id: 'bob', sha256: sha256(T.bob) }],
      tokensFile: `${dir}/tokens`,
      tokensEnv: 'TUSPORT_TEST_TOKENS',
      bind: { username: 'sub' },
      admin: { claim: 'sub', value: 'ops' },
    });
  });
  afterAll(async () => {
    delete process.env.TUSPORT_TEST_TOKENS;
    await cleanup();
  });
  afterEach(() => vi.mocked(timingSafeEqual).mockClear());

  it.each(['alice', 'bob', 'carol', 'dave'] as const)('%s (inline, hashed, file, env) is accepted at their own path', async (id) => {
    const response = await create(url, `/users/${id}/uploads`, bearer(T[id]));
    expect(response.status).toBe(201);
    expect(principalOf(response)).toEqual({ id, claims: { sub: id }, admin: false });
  });

  it('the scheme is case-insensitive', async () => {
    for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
      expect((await create(url, '/users/alice/uploads', { Authorization: `${scheme} ${T.alice}` })).status).toBe(201);
    }
  });

  it('compares against every token whether or not it matches (constant-time path)', async () => {
    // A first request may do one-time work that compares too (run first in a shuffled order, the
    // matching request counted 15 calls): measure requests after it.
    expect((await create(url, '/users/alice/uploads', bearer(T.alice))).status).toBe(201);
    vi.mocked(timingSafeEqual).mockClear();
    expect((await create(url, '/users/alice/uploads', bearer(T.alice))).status).toBe(201);
    const onMatch = vi.mocked(timingSafeEqual).mock.calls.length;
    vi.mocked(timingSafeEqual).mockClear();
    expect401(await create(url, '/users/alice/uploads', bearer('x')), 'invalid_token', undefined);
    expect(vi.mocked(timingSafeEqual).mock.calls.length).toBe(onMatch);
    expect(onMatch).toBe(5);
  });

  it('unknown, altered, missing and non-Bearer credentials are 401s that never echo the token', async () => {
    const altered = `${T.alice.slice(0, -1)}X`;
    expect(expect401(await create(url, '/users/alice/uploads', bearer(altered)), 'invalid_token', altered)).toMatch(/not valid/);
    expect(expect401(await create(url, '/users/alice/uploads'), null)).toMatch(/no credentials/);
    const basic = Buffer.from(`alice:${T.alice}`).toString('base64');
    expect401(await create(url, '/users/alice/uploads', { Authorization: `Basic ${basic}` }), 'invalid_request', basic);
    expect401(await create(url, '/users/alice/uploads', { Authorization: T.alice }), 'invalid_request', T.alice);
  });

  it('query and cookie tokens are ignored unless configured', async () => {
    expect401(await create(url, `/users/alice/uploads?access_token=${T.alice}`), null, T.alice);
    expect401(await create(url, '/users/alice/uploads', { Cookie: `token=${T.alice}` }), null, T.alice);
  });

  it('bind: a token at someone else\'s path is 403; the admin passes anywhere', async () => {
    expect403(await create(url, '/users/bob/uploads', bearer(T.alice)));
    const admin = await create(url, '/users/bob/uploads', bearer(T.ops));
    expect(admin.status).toBe(201);
    expect(principalOf(admin)).toMatchObject({ id: 'ops', admin: true });
  });

  it('broken token sources fail at creation', () => {
    const make = (auth: AuthConfig, template = TEMPLATE) => () => createAuthenticator(AuthSchema.parse(auth), template);
    expect(make({ type: 'bearer', tokensEnv: 'TUSPORT_TEST_UNSET_VARIABLE' })).toThrow(AuthConfigError);
    expect(make({ type: 'bearer', tokensFile: '/nonexistent/tokens' })).toThrow(/tokensFile/);
    expect(make({ type: 'bearer', tokens: [{ id: 'a', token: T.alice }, { id: 'b', sha256: sha256(T.alice) }] })).toThrow(/same token/);
    expect(make({ type: 'bearer', tokens: [{ id: 'a', token: T.alice }], bind: { user: 'sub' } })).toThrow(/\{user\}/);
    expect(make({ type: 'bearer', tokens: [{ id: 'a', token: T.alice }], tokenFrom: { header: false } })).toThrow(/every way/);
    expect(() => AuthSchema.parse({ type: 'bearer', tokens: [{ id: 'a', token: 'short' }] })).toThrow(/16 characters/);
  });
});

describe('auth signed', () => {
  let url: string;
  const mint = (extra: Partial<Parameters<typeof signUploadToken>[0]> = {}) =>
    signUploadToken({ secret: SECRET, principal: 'user-1', endpoint: TEMPLATE, params: { username: 'alice' }, expiresIn: 60_000, ...extra });
  beforeAll(async () => {
    url = await start({ type: 'signed', secret: SECRET });
  });

  it('a valid token yields its principal and scope', async () => {
    const photo = { 'Upload-Metadata': `filename ${Buffer.from('photo.png').toString('base64')},filetype ${Buffer.from('image/png').toString('base64')}` };
    const response = await create(url, '/users/alice/uploads', { ...bearer(mint({ maxSize: 5, accept: ['image/*'] })), ...photo });
    expect(response.status, response.body).toBe(201);
    expect(principalOf(response)).toMatchObject({ id: 'user-1', admin: false, claims: { sub: 'user-1' } });
    // The scope travels with it: the token's maxSize and accept bind the upload.
    const token = mint({ maxSize: 5, accept: ['image/*'] });
    const tooBig = await create(url, '/users/alice/uploads', { ...bearer(token), ...photo, 'Upload-Length': '6' });
    expect(tooBig.status).toBe(403);
    expect(body(tooBig).code).toBe('TUSPORT_ERR_FORBIDDEN');
    const wrongType = await create(url, '/users/alice/uploads', { ...bearer(token), 'Upload-Metadata': `filename ${Buffer.from('notes.txt').toString('base64')}` });
    expect(wrongType.status).toBe(415);
  });

  it('another endpoint or other params are 403', async () => {
    expect403(await create(url, '/users/bob/uploads', bearer(mint())));
    const otherEndpoint = signUploadToken({ secret: SECRET, principal: 'user-1', endpoint: '/users/{username}/avatars', params: { username: 'alice' }, expiresIn: 60_000 });
    expect403(await create(url, '/users/alice/uploads', bearer(otherEndpoint)));
  });

  it('expired, not-yet-valid, tampered, forged, missing and wrong-scheme tokens are 401s', async () => {
    const expired = mint({ now: Date.now() - 120_000 });
    const early = mint({ now: Date.now() + 3_600_000 });
    const [version, payload, mac] = mint().split('.');
    const tampered = `${version}.${Buffer.from(Buffer.from(payload ?? '', 'base64url').toString().replace('alice', 'bob!!')).toString('base64url')}.${mac}`;
    const forged = mint({ secret: 'x'.repeat(40) });
    expect(expect401(await create(url, '/users/alice/uploads', bearer(expired)), 'invalid_token', expired)).toMatch(/expired/);
    expect(expect401(await create(url, '/users/alice/uploads', bearer(early)), 'invalid_token', early)).toMatch(/not valid yet/);
    expect(expect401(await create(url, '/users/bob!!/uploads', bearer(tampered)), 'invalid_token', tampered)).toMatch(/signature/);
    expect(expect401(await create(url, '/users/alice/uploads', bearer(forged)), 'invalid_token', forged)).toMatch(/signature/);
    expect401(await create(url, '/users/alice/uploads'), null);
    expect401(await create(url, '/users/alice/uploads', { Authorization: `Signed ${mint()}` }), 'invalid_request');
  });

  it('with the header turned off, only the configured query parameter counts', async () => {
    const queryOnly = await start({ type: 'signed', secret: SECRET, tokenFrom: { header: false, query: 'upload_token' } });
    const token = mint();
    expect((await create(queryOnly, `/users/alice/uploads?upload_token=${encodeURIComponent(token)}`)).status).toBe(201);
    expect401(await create(queryOnly, '/users/alice/uploads', bearer(token)), null, token);
  });
});

describe('auth function', () => {
  let url: string;
  beforeAll(async () => {
    url = await start({
      type: 'function',
      tokenFrom: { query: 'key' },
      bind: { username: 'sub' },
      authorize: (request, params, token) => {
        if (token === 'deny') throw new AuthErrors.FORBIDDEN('denied by policy');
        const user = request.headers['x-user'];
        if (typeof user !== 'string') return null;
        return { id: user, claims: { sub: user, token, param: params.username }, admin: user === 'root' };
      },
    });
  });

  it('returns what authorize returns, with the extracted token', async () => {
    const response = await create(url, '/users/alice/uploads?key=k1', { 'X-User': 'alice' });
    expect(response.status).toBe(201);
    expect(principalOf(response)).toEqual({ id: 'alice', admin: false, claims: { sub: 'alice', token: 'k1', param: 'alice' } });
  });

  it('null is 401 with a challenge; a thrown 403 keeps its status; bind and admin apply', async () => {
    expect401(await create(url, '/users/alice/uploads'));
    const denied = await create(url, '/users/alice/uploads?key=deny', { 'X-User': 'alice' });
    expect(denied.status).toBe(403);
    expect(body(denied)).toMatchObject({ code: 'TUSPORT_ERR_FORBIDDEN', message: 'Not allowed: denied by policy' });
    expect(String(denied.headers['www-authenticate'])).toContain('error="insufficient_scope"');
    expect403(await create(url, '/users/bob/uploads', { 'X-User': 'alice' }));
    expect((await create(url, '/users/bob/uploads', { 'X-User': 'root' })).status).toBe(201);
  });
});
