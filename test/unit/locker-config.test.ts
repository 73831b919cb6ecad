import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/config.js';
import { resolveConfig } from '../../src/config/load.js';

const endpoints = [{ path: '/files', store: { type: 'disk', directory: '/tmp/tusport-locker-config' } }];


describe('config: locker', () => {
  it('defaults to the memory locker; redis gets keyPrefix tusport: and a 10 s lease', () => {
    expect(resolveConfig({ endpoints }).locker).toEqual({ type: 'memory' });
    expect(resolveConfig({ endpoints, locker: { type: 'redis', url: 'redis://127.0.0.1:6379/0' } }).locker).toEqual({
      type: 'redis',
      url: 'redis://127.0.0.1:6379/0',
      keyPrefix: 'tusport:',
      lease: 10_000,
    });
  });

  it('takes the lease as a duration', () => {
    expect(resolveConfig({ endpoints, locker: { type: 'redis', url: 'redis://r:6379', lease: '3s' } }).locker).toMatchObject({ lease: 3_000 });
  });

  it('refuses a lease outside 1 s to 120 s, and one that is not a duration, saying why', () => {
    expect(problemsOf({ endpoints, locker: { type: 'redis', url: 'redis://r:6379', lease: 500 } })).toEqual(['locker.lease: expected a lease between 1s and 120s']);
    expect(problemsOf({ endpoints, locker: { type: 'redis', url: 'redis://r:6379', lease: '5min' } })).toEqual(['locker.lease: expected a lease between 1s and 120s']);
    expect(problemsOf({ endpoints, locker: { type: 'redis', url: 'redis://r:6379', lease: 'soon' } })[0]).toMatch(/^locker\.lease: expected a duration/);
    expect(problemsOf({ endpoints, locker: { type: 'memory', lease: '5s' } })[0]).toMatch(/^locker: /);
  });

  it('refuses a redis locker without a redis:// URL, and an unknown type, saying what is expected (never echoing the URL and its credentials)', () => {
    const url = 'expected a redis:// or rediss:// URL, e.g. redis://127.0.0.1:6379/0';
    expect(problemsOf({ endpoints, locker: { type: 'redis' } })).toEqual([`locker.url: ${url}`]);
    expect(problemsOf({ endpoints, locker: { type: 'redis', url: 'http://user:pa55word@r:6379/0' } })).toEqual([`locker.url: ${url}`]);
    expect(problemsOf({ endpoints, locker: { type: 'redis', url: 'not a url' } })).toEqual([`locker.url: ${url}`]);
    expect(problemsOf({ endpoints, locker: { type: 'etcd' } })).toEqual(['locker.type: expected a locker: { type: "memory" } or { type: "redis", url: "redis://..." }']);
    expect(problemsOf({ endpoints, locker: 'redis' })).toEqual(['locker: expected a locker: { type: "memory" } or { type: "redis", url: "redis://..." }']);
  });
});
