import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/config/load.js';
import { signDownloadLink } from '../../src/index.js';

/** The `downloads` and `claim` keys: defaults, validation with messages naming the key. */
const withEndpoint = (extra: Record<string, unknown>, store: Record<string, unknown> = { type: 'disk', directory: './d' }) => ({ endpoints: [{ path: '/files', store, ...extra }] });

function problems(input: unknown): string {
  try {
    resolveConfig(input);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

describe('downloads and claim config', () => {
  it('defaults: no links, links at most 7 days, no redirect, no claim', () => {
    const endpoint = resolveConfig(withEndpoint({})).endpoints[0]!;
    expect(endpoint.downloads).toEqual({ linkMaxAge: 7 * 24 * 3600_000, presignedRedirect: false });
    expect(endpoint.claim).toBeUndefined();
    expect(resolveConfig(withEndpoint({ claim: { ttl: '24h' } })).endpoints[0]!.claim).toEqual({ ttl: 86_400_000, allowPath: false });
  });

  it.each([
    [{ downloads: { linkSecret: 'short' } }, /downloads\.linkSecret.*at least 32 characters/],
    [{ downloads: { presignedRedirect: true } }, /downloads\.presignedRedirect.*needs an S3 store/],
    [{ downloads: { linkMaxAge: 'forever' } }, /downloads\.linkMaxAge/],
    [{ downloads: { linkSecret: 'x'.repeat(40), extra: 1 } }, /downloads.*extra/],
    [{ claim: {} }, /claim\.ttl/],
    [{ claim: { ttl: '1h', allowPath: 'yes' } }, /claim\.allowPath/],
  ])('%j is refused naming the key', (extra, message) => {
    expect(problems(withEndpoint(extra))).toMatch(message);
  });

  it('the secret never appears in a config error', () => {
    const secret = 'a-secret-that-must-not-leak-0123456789abcdef';
    expect(problems(withEndpoint({ downloads: { linkSecret: secret, presignedRedirect: true } }))).not.toContain(secret);
  });
});

describe('signDownloadLink', () => {
  it('refuses what could never verify: no secret, no or two expiries, a past expiry, a prefix the URL lacks', () => {
    const url = 'http://h/files/abc';
    expect(() => signDownloadLink({ url, secret: '', expiresIn: 1000 })).toThrow(/secret/);
    expect(() => signDownloadLink({ url, secret: 's', expiresIn: 1000, expiresAt: new Date() })).toThrow(/exactly one/);
    expect(() => signDownloadLink({ url, secret: 's', expiresAt: new Date(Date.now() - 1000) })).toThrow(/future/);
    expect(() => signDownloadLink({ url, secret: 's', expiresIn: 1000, stripPrefix: '/tus' })).toThrow(/\/tus/);
  });

  it('keeps other query parameters and replaces an old signature', () => {
    const first = new URL(signDownloadLink({ url: 'http://h/files/abc?download=1', secret: 's', expiresIn: 60_000, now: 0 }));
    const again = new URL(signDownloadLink({ url: first.toString(), secret: 's', expiresIn: 120_000, now: 0 }));
    expect(again.searchParams.get('download')).toBe('1');
    expect(again.searchParams.getAll('sig')).toHaveLength(1);
    expect(again.searchParams.get('expires')).toBe('120');
  });
});
