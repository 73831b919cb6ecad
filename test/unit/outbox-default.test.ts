import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/load.js';

/**
 * With a Redis locker and no `outbox` key, the hook outbox is the Redis one on the locker's URL
 * (a fleet shares one queue: a notification queued by an instance that dies is delivered by
 * another); an explicit `outbox` wins; without a Redis locker the default stays the disk outbox.
 */
const URL = 'redis://:s3cret@127.0.0.1:6390/2';

describe('the outbox a config gets when it names none', () => {
  it('locker redis: the Redis outbox on the same URL, under <locker.keyPrefix>outbox:', () => {
    expect(resolveConfig({ locker: { type: 'redis', url: URL } }).outbox).toEqual({ type: 'redis', url: URL, keyPrefix: 'tusport:outbox:', giveUpAfter: 86_400_000 });
    expect(resolveConfig({ locker: { type: 'redis', url: URL, keyPrefix: 'fleet-a:' } }).outbox).toMatchObject({ type: 'redis', url: URL, keyPrefix: 'fleet-a:outbox:' });
  });

  it('an explicit outbox wins over the default, disk or Redis', () => {
    const locker = { type: 'redis', url: URL };
    expect(resolveConfig({ locker, outbox: { type: 'disk', directory: '/var/lib/tusport/outbox' } }).outbox).toEqual({
      type: 'disk',
      directory: '/var/lib/tusport/outbox',
      giveUpAfter: 86_400_000,
    });
    // An empty section is explicit too: it means the disk outbox with its defaults.
    expect(resolveConfig({ locker, outbox: {} }).outbox).toMatchObject({ type: 'disk', directory: './data/.outbox' });
    const other = 'redis://127.0.0.1:6391/0';
    expect(resolveConfig({ locker, outbox: { type: 'redis', url: other, giveUpAfter: '1h' } }).outbox).toEqual({
      type: 'redis',
      url: other,
      keyPrefix: 'tusport:outbox:',
      giveUpAfter: 3_600_000,
    });
  });

  it('no Redis locker: the disk outbox', () => {
    expect(resolveConfig({}).outbox).toEqual({ type: 'disk', directory: './data/.outbox', giveUpAfter: 86_400_000 });
    expect(resolveConfig({ locker: { type: 'memory' } }).outbox.type).toBe('disk');
  });
});
