import { describe, expect, it } from 'vitest';
import { forwardedAddress, parseForwarded } from '../../src/endpoints/forwarded.js';

describe('parseForwarded (RFC 7239)', () => {
  it('reads elements in order, names case-insensitively, quoted values with separators and escapes', () => {
    expect(parseForwarded('for=192.0.2.60;proto=http;by=203.0.113.43')).toEqual([{ for: '192.0.2.60', proto: 'http', by: '203.0.113.43' }]);
    expect(parseForwarded('For="[2001:db8:cafe::17]:4711", for=198.51.100.17;HOST="a.example:8443"')).toEqual([
      { for: '[2001:db8:cafe::17]:4711' },
      { for: '198.51.100.17', host: 'a.example:8443' },
    ]);
    expect(parseForwarded('host="a,b;c\\"d" ; proto=https')).toEqual([{ host: 'a,b;c"d', proto: 'https' }]);
    expect(parseForwarded('ext=1;for=unknown')).toEqual([{ for: 'unknown' }]);
  });

  it.each(['', 'for', 'for=', 'for="open', 'for=a b', 'for=a;for=b', 'for=a,,for=b', 'for=a,', '=x', 'host=a/b'])('%j is not valid syntax', (header) => {
    expect(parseForwarded(header)).toBeUndefined();
  });
});

describe('forwardedAddress', () => {
  it.each([
    ['192.0.2.60', '192.0.2.60'],
    ['192.0.2.60:8080', '192.0.2.60'],
    ['[2001:db8::1]', '2001:db8::1'],
    ['[2001:db8::1]:4711', '2001:db8::1'],
    ['_hidden', undefined],
    ['unknown', undefined],
    ['2001:db8::1', undefined],
  ])('%j -> %j', (value, address) => {
    expect(forwardedAddress(value)).toBe(address);
  });
});
