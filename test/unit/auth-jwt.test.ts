import Fastify from 'fastify';
import { exportJWK, exportSPKI, generateKeyPair, type JWTPayload, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthConfigError, createAuthenticator } from '../../src/auth/authenticate.js';
import { AuthSchema } from '../../src/auth/schema.js';
import { bearer, body, closeAll, create, expect401, expect403, principalOf, now, SECRET, start, TEMPLATE, track } from '../helpers/auth.js';

const ISS = 'https://issuer.test';
const AUD = 'tusport';
afterAll(closeAll);

type Key = Parameters<SignJWT['sign']>[0];
const hsKey = new TextEncoder().encode(SECRET);
/** A JWT valid for five minutes for alice unless `claims` says otherwise (undefined drops a claim). */
const jwt = (key: Key, alg: string, claims: JWTPayload = {}, kid?: string) =>
  new SignJWT({ sub: 'alice', iss: ISS, aud: AUD, iat: now(), exp: now() + 300, ...claims }).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).sign(key);

/** The failures every JWT setup must turn into 401s. */
async function expectJwtFailures(url: string, key: Key, alg: string, otherKey: Key, kid?: string) {
  const cases: [string, RegExp][] = [
    [await jwt(key, alg, { exp: now() - 60 }, kid), /expired/],
    [await jwt(key, alg, { nbf: now() + 60 }, kid), /not valid yet/],
    [await jwt(otherKey, alg, {}, kid), /signature|unknown key/],
    [await jwt(key, alg, { aud: 'someone-else' }, kid), /audience/],
    [await jwt(key, alg, { iss: 'https://evil.test' }, kid), /issuer/],
    [await jwt(key, alg, { exp: undefined }, kid), /"exp"/],
    [await jwt(key, alg, { sub: undefined }, kid), /"sub"/],
    [new UnsecuredJWT({ sub: 'alice', iss: ISS, aud: AUD, exp: now() + 60 }).encode(), /algorithm|malformed/],
    ['not.a.jwt', /malformed/],
  ];
  for (const [token, message] of cases) {
    expect(expect401(await create(url, '/users/alice/uploads', bearer(token)), 'invalid_token', token)).toMatch(message);
  }
  expect401(await create(url, '/users/alice/uploads', { Authorization: `Token ${await jwt(key, alg, {}, kid)}` }), 'invalid_request');
  expect(expect401(await create(url, '/users/alice/uploads'), null)).toMatch(/no credentials/);
}

describe('auth jwt, HS256 secret', () => {
  let url: string;
  beforeAll(async () => {
    url = await start({
      type: 'jwt', secret: SECRET, issuer: ISS, audience: AUD, bind: { username: 'sub' }, admin: { claim: 'roles', value: 'admin' },
      tokenFrom: { query: 'access_token', cookie: 'tusport_token' }, realm: 'uploads',
    });
  });

  it('a valid token yields its principal and claims', async () => {
    const response = await create(url, '/users/alice/uploads', bearer(await jwt(hsKey, 'HS256', { name: 'Alice' })));
    expect(response.status).toBe(201);
    expect(principalOf(response)).toMatchObject({ id: 'alice', admin: false, claims: { sub: 'alice', name: 'Alice', iss: ISS } });
  });

  it('expired, not-yet-valid, forged, wrong audience/issuer, missing and wrong-scheme tokens are 401s', async () => {
    const failures = await start({ type: 'jwt', secret: SECRET, issuer: ISS, audience: AUD });
    await expectJwtFailures(failures, hsKey, 'HS256', new TextEncoder().encode('x'.repeat(40)));
  });

  it('honours the clock tolerance for a just-expired token', async () => {
    expect((await create(url, '/users/alice/uploads', bearer(await jwt(hsKey, 'HS256', { exp: now() - 2 })))).status).toBe(201);
  });

  it('the challenge names the configured realm', async () => {
    expect401(await create(url, '/users/alice/uploads', bearer('nope')), 'invalid_token', 'nope', 'uploads');
  });

  it('takes the token from the configured query parameter and cookie', async () => {
    const token = await jwt(hsKey, 'HS256');
    expect((await create(url, `/users/alice/uploads?access_token=${token}`)).status).toBe(201);
    expect((await create(url, '/users/alice/uploads', { Cookie: `other=1; tusport_token=${token}` })).status).toBe(201);
    // Other names are ignored.
    expect401(await create(url, `/users/alice/uploads?token=${token}`, { Cookie: `token=${token}` }), null, token, 'uploads');
  });

  it('bind mismatch is 403; an admin (roles includes "admin") bypasses it', async () => {
    expect403(await create(url, '/users/bob/uploads', bearer(await jwt(hsKey, 'HS256'))));
    expect403(await create(url, '/users/bob/uploads', bearer(await jwt(hsKey, 'HS256', { roles: ['user'] }))));
    const admin = await create(url, '/users/bob/uploads', bearer(await jwt(hsKey, 'HS256', { roles: ['user', 'admin'] })));
    expect(admin.status).toBe(201);
    expect(principalOf(admin)).toMatchObject({ id: 'alice', admin: true });
  });

  it('refuses mixing HMAC with public-key algorithms, and needs exactly one key source', () => {
    expect(() => AuthSchema.parse({ type: 'jwt', secret: SECRET, algorithms: ['RS256'] })).toThrow(/RS256 cannot be used with a secret/);
    expect(() => AuthSchema.parse({ type: 'jwt' })).toThrow(/exactly one of secret, publicKey, jwksUrl/);
    expect(() => AuthSchema.parse({ type: 'jwt', jwksUrl: 'http://idp.example.com/jwks' })).toThrow(/https/);
  });
});

describe.each(['RS256', 'ES256'])('auth jwt, %s PEM public key', (alg) => {
  let url: string;
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let other: Awaited<ReturnType<typeof generateKeyPair>>;
  beforeAll(async () => {
    [keys, other] = await Promise.all([generateKeyPair(alg), generateKeyPair(alg)]);
    url = await start({ type: 'jwt', publicKey: await exportSPKI(keys.publicKey), issuer: ISS, audience: AUD, principalClaim: 'uid' });
  });

  it('a valid token yields the principal named by principalClaim', async () => {
    const response = await create(url, '/users/alice/uploads', bearer(await jwt(keys.privateKey, alg, { uid: 42 })));
    expect(response.status).toBe(201);
    expect(principalOf(response)).toMatchObject({ id: '42', claims: { uid: 42 } });
  });

  it('failures are 401s, including an HS256 token keyed with the PEM text (alg confusion)', async () => {
    const pemUrl = await start({ type: 'jwt', publicKey: await exportSPKI(keys.publicKey), issuer: ISS, audience: AUD });
    await expectJwtFailures(pemUrl, keys.privateKey, alg, other.privateKey);
    const confused = await jwt(new TextEncoder().encode(await exportSPKI(keys.publicKey)), 'HS256');
    expect(expect401(await create(pemUrl, '/users/alice/uploads', bearer(confused)), 'invalid_token', confused)).toMatch(/algorithm/);
  });

  it('a key that cannot verify the configured algorithms fails at creation', async () => {
    const wrong = alg === 'RS256' ? 'ES256' : 'RS256';
    const auth = AuthSchema.parse({ type: 'jwt', publicKey: await exportSPKI(keys.publicKey), algorithms: [wrong] });
    expect(() => createAuthenticator(auth, TEMPLATE)).toThrow(AuthConfigError);
    expect(() => createAuthenticator(AuthSchema.parse({ type: 'jwt', publicKey: '-----BEGIN PUBLIC KEY-----\nxx\n' }), TEMPLATE)).toThrow(/cannot be read/);
  });
});

describe('auth jwt, JWKS', () => {
  let keys: Awaited<ReturnType<typeof generateKeyPair>>;
  let stranger: Awaited<ReturnType<typeof generateKeyPair>>;
  let jwks: string;
  beforeAll(async () => {
    [keys, stranger] = await Promise.all([generateKeyPair('ES256'), generateKeyPair('ES256')]);
    const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const idp = Fastify({ forceCloseConnections: true });
    idp.get('/jwks.json', async () => ({ keys: [jwk] }));
    idp.get('/broken', async (_request, reply) => reply.code(500).send('oops'));
    idp.get('/slow', async () => new Promise((resolve) => setTimeout(() => resolve({ keys: [jwk] }), 2_000)));
    jwks = await track(idp);
  });

  it('verifies tokens with keys fetched from the key set', async () => {
    const url = await start({ type: 'jwt', jwksUrl: `${jwks}/jwks.json`, issuer: ISS, audience: AUD });
    const response = await create(url, '/users/alice/uploads', bearer(await jwt(keys.privateKey, 'ES256', {}, 'k1')));
    expect(response.status).toBe(201);
    expect(principalOf(response)).toMatchObject({ id: 'alice' });
    await expectJwtFailures(url, keys.privateKey, 'ES256', stranger.privateKey, 'k1');
    expect(expect401(await create(url, '/users/alice/uploads', bearer(await jwt(stranger.privateKey, 'ES256', {}, 'k2'))))).toMatch(/unknown key/);
  });

  it.each([['/broken'], ['/slow'], ['/missing']])('a key set at %s that cannot be fetched is 503, not 500', async (path) => {
    const url = await start({ type: 'jwt', jwksUrl: `${jwks}${path}`, jwksTimeout: 200 });
    const response = await create(url, '/users/alice/uploads', bearer(await jwt(keys.privateKey, 'ES256', {}, 'k1')));
    expect(response.status).toBe(503);
    expect(body(response).code).toBe('TUSPORT_ERR_AUTH_UNAVAILABLE');
  });

  it('an unreachable key set is 503', async () => {
    const url = await start({ type: 'jwt', jwksUrl: 'http://127.0.0.1:9/jwks.json', jwksTimeout: 500 });
    expect((await create(url, '/users/alice/uploads', bearer(await jwt(keys.privateKey, 'ES256', {}, 'k1')))).status).toBe(503);
  });
});
