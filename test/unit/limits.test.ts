import { describe, expect, it } from 'vitest';
import { ConfigError, resolveConfig } from '../../src/config/load.js';
import { defaultMaxConnections } from '../../src/limits/fd-limit.js';

describe('server limits config', () => {
  it('defaults: 20 s headers timeout, 8 KiB per 60 s minimum body rate, 100 connections per client, total derived from the fd limit', () => {
    const { server } = resolveConfig({});
    expect(server).toMatchObject({ headersTimeout: 20_000, minBodyRate: { bytes: 8192, window: 60_000 }, maxConnectionsPerClient: 100 });
    expect(server.maxConnections).toBeUndefined();
  });

  it('takes units and refuses a window under a second, naming the key', () => {
    expect(resolveConfig({ server: { minBodyRate: { bytes: '2KiB', window: '10s' }, headersTimeout: '5s' } }).server).toMatchObject({
      minBodyRate: { bytes: 2048, window: 10_000 },
      headersTimeout: 5000,
    });
    expect(() => resolveConfig({ server: { minBodyRate: { window: '500ms' } } })).toThrow(ConfigError);
    expect(() => resolveConfig({ server: { minBodyRate: { window: '500ms' } } })).toThrow(/server\.minBodyRate\.window: must be at least 1s/);
    expect(() => resolveConfig({ server: { maxConnections: 0 } })).toThrow(/server\.maxConnections/);
  });

  it('the default total cap keeps sockets plus their data files under the open-file limit', () => {
    expect(defaultMaxConnections(1024)).toBe(448);
    expect(defaultMaxConnections(1_048_576)).toBe(10_000);
    expect(defaultMaxConnections(100)).toBe(16);
    expect(defaultMaxConnections(undefined)).toBe(1000);
  });
});
