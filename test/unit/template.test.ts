import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  checkParamValue,
  directoryRoot,
  MAX_PARAM_BYTES,
  parseUrlTemplate,
  placeholdersOf,
  renderUrlPath,
  resolveDirectory,
  TemplateError,
} from '../../src/endpoints/template.js';

describe('parseUrlTemplate', () => {
  it('a static path has no params and is its own route and shape', () => {
    expect(parseUrlTemplate('/files')).toEqual({ source: '/files', routePath: '/files', params: [], shape: '/files' });
  });

  it('params become Fastify route params and "*" in the shape', () => {
    expect(parseUrlTemplate('/users/{username}/uploads')).toEqual({
      source: '/users/{username}/uploads',
      routePath: '/users/:username/uploads',
      params: ['username'],
      shape: '/users/*/uploads',
    });
    expect(parseUrlTemplate('/t/{tenant_1}/{_kind}/x')).toMatchObject({ routePath: '/t/:tenant_1/:_kind/x', params: ['tenant_1', '_kind'], shape: '/t/*/*/x' });
  });

  it('a trailing slash is dropped', () => {
    expect(parseUrlTemplate('/files/')).toMatchObject({ source: '/files', routePath: '/files', shape: '/files' });
  });

  it('differently named params at the same place have the same shape', () => {
    expect(parseUrlTemplate('/users/{a}/uploads').shape).toBe(parseUrlTemplate('/users/{b}/uploads').shape);
  });

  it.each([
    ['files', /must start with "\/"/],
    ['', /must start with "\/"/],
    ['/', /must not be "\/"/],
    ['//', /must not be "\/"/],
    ['/a//b', /empty segments/],
    ['/a/{b}c', /a \{param\} must be a whole path segment/],
    ['/a/x{b}', /a \{param\} must be a whole path segment/],
    ['/a/{b', /a \{param\} must be a whole path segment/],
    ['/a/{1x}', /param "\{1x\}" must be a name of letters, digits and "_"/],
    ['/a/{b-c}', /must be a name/],
    ['/a/{}', /must be a name/],
    [`/a/{${'x'.repeat(65)}}`, /must be a name/],
    ['/a/{b}/{b}', /param "\{b\}" appears twice/],
    ['/a/..', /not allowed in a URL path/],
    ['/./a', /not allowed in a URL path/],
    ['/a b', /not allowed in a URL path/],
    ['/a?b', /not allowed in a URL path/],
    ['/a#b', /not allowed in a URL path/],
    ['/a%2Fb', /not allowed in a URL path/],
  ])('%j is refused (%s)', (template, message) => {
    expect(() => parseUrlTemplate(template)).toThrow(TemplateError);
    expect(() => parseUrlTemplate(template)).toThrow(message);
  });
});

describe('placeholdersOf / renderUrlPath', () => {
  it('lists the {names} of a location template', () => {
    expect(placeholdersOf('./data/{tenant}/{username}/x')).toEqual(['tenant', 'username']);
    expect(placeholdersOf('./data/files')).toEqual([]);
  });

  it('renders a URL path with each value percent-encoded', () => {
    expect(renderUrlPath(parseUrlTemplate('/users/{username}/uploads'), { username: 'Jürgen Ü' })).toBe('/users/J%C3%BCrgen%20%C3%9C/uploads');
    expect(() => renderUrlPath(parseUrlTemplate('/users/{username}/uploads'), {})).toThrow(TemplateError);
  });
});

describe('checkParamValue', () => {
  it.each([
    ['', 'must not be empty'],
    ['.', 'must not be "." or ".."'],
    ['..', 'must not be "." or ".."'],
    ['a/b', 'must not contain "/" or "\\"'],
    ['/', 'must not contain "/"'],
    ['a\\b', 'must not contain "/" or "\\"'],
    ['..\\..\\etc', 'must not contain "/" or "\\"'],
    ['a\0b', 'control characters'],
    ['\0', 'control characters'],
    ['a\nb', 'control characters'],
    ['a\rb', 'control characters'],
    ['tab\there', 'control characters'],
    ['\x1b[31m', 'control characters'],
    ['del\x7f', 'control characters'],
    ['\ud800', 'must be valid Unicode'],
    ['a\udc00b', 'must be valid Unicode'],
    ['x'.repeat(MAX_PARAM_BYTES + 1), `at most ${MAX_PARAM_BYTES} bytes`],
    ['ü'.repeat(65), `at most ${MAX_PARAM_BYTES} bytes`],
  ])('refuses %j', (value, reason) => {
    const problem = checkParamValue(value);
    expect(problem).toBeDefined();
    expect(problem).toContain(reason);
  });

  it.each([['alice'], ['Jürgen'], ['a.b'], ['...'], ['.hidden'], ['a..b'], ['user@example.com'], ['😀'], ['x'.repeat(MAX_PARAM_BYTES)], ['ü'.repeat(64)]])(
    'accepts %j',
    (value) => {
      expect(checkParamValue(value)).toBeUndefined();
    },
  );

  it('counts UTF-8 bytes, not UTF-16 code units', () => {
    // 32 emoji = 64 code units but 128 bytes: still fine; one more is 132 bytes.
    expect(checkParamValue('😀'.repeat(32))).toBeUndefined();
    expect(checkParamValue('😀'.repeat(33))).toContain('bytes');
  });
});

describe('directoryRoot', () => {
  it.each([
    ['./data/files', path.resolve('data/files')],
    ['./data/{username}', path.resolve('data')],
    ['./data/{tenant}/{username}/in', path.resolve('data')],
    ['./data/u-{username}', path.resolve('data')],
    ['/srv/uploads/{username}', '/srv/uploads'],
    ['/{username}', '/'],
    ['{username}', path.resolve('.')],
    ['{username}/files', path.resolve('.')],
    ['/srv/uploads', '/srv/uploads'],
  ])('%j → %s', (template, root) => {
    expect(directoryRoot(template)).toBe(root);
  });
});

describe('resolveDirectory', () => {
  it('renders the template inside its root', () => {
    expect(resolveDirectory('/srv/uploads/{username}', { username: 'alice' })).toBe('/srv/uploads/alice');
    expect(resolveDirectory('./data/{tenant}/{username}', { tenant: 't1', username: 'Jürgen' })).toBe(path.resolve('data/t1/Jürgen'));
    expect(resolveDirectory('/srv/uploads/u-{username}', { username: '...' })).toBe('/srv/uploads/u-...');
    expect(resolveDirectory('./data/files', {})).toBe(path.resolve('data/files'));
  });

  it('throws for a missing value', () => {
    expect(() => resolveDirectory('/srv/{username}', {})).toThrow(/no value for \{username\}/);
  });

  // Values that checkParamValue would refuse, passed straight in: the root check is the last line.
  it.each([
    ['/srv/uploads/{username}', '..'],
    ['/srv/uploads/{username}', '../x'],
    ['/srv/uploads/{username}', '../../etc'],
    ['/srv/uploads/{username}/data', '../../../etc'],
    ['/srv/uploads/u-{username}', '/../../etc'],
    ['./data/{username}', '../x'],
    ['./data/{a}/{b}', 'x/../../..'],
    ['{username}', '../x'],
    ['{username}', '/etc'],
    ['{username}/files', '/etc'],
  ])('%j with %j throws instead of escaping the root', (template, value) => {
    const values = Object.fromEntries(placeholdersOf(template).map((name) => [name, value]));
    expect(() => resolveDirectory(template, values)).toThrow(TemplateError);
    expect(() => resolveDirectory(template, values)).toThrow(/is outside/);
  });

  it('an absolute value after a fixed prefix is rendered below the root, not at /etc', () => {
    // "/srv/uploads/" + "/etc" is "/srv/uploads//etc", which resolves inside the root.
    expect(resolveDirectory('/srv/uploads/{username}', { username: '/etc' })).toBe('/srv/uploads/etc');
    expect(resolveDirectory('./data/{username}', { username: '/etc' })).toBe(path.resolve('data/etc'));
  });

  it('whatever the values, the result is inside the root or a TemplateError', () => {
    const templates = ['/srv/uploads/{a}', '/srv/uploads/{a}/{b}', '/srv/u-{a}/x', './data/{a}', '{a}', '{a}/{b}', '/{a}/up'];
    const hostile = ['..', '../x', '../../..', '/etc', '/', '.', '', 'a/../../..', '..\\..', '%2e%2e', '\0', 'x/../..', '/../', '....//..'];
    let refused = 0;
    for (const template of templates) {
      const root = directoryRoot(template);
      for (const a of hostile) {
        for (const b of hostile) {
          let resolved: string;
          try {
            resolved = resolveDirectory(template, { a, b });
          } catch (error) {
            expect(error).toBeInstanceOf(TemplateError);
            refused++;
            continue;
          }
          const relative = path.relative(root, resolved);
          expect(relative.startsWith('..') || path.isAbsolute(relative), `${template} with ${a}, ${b} -> ${resolved}`).toBe(false);
        }
      }
    }
    expect(refused).toBeGreaterThan(0);
  });

  it("a root that is a prefix of a sibling's name does not let the sibling in", () => {
    expect(() => resolveDirectory('/srv/up/{username}', { username: '../uploads' })).toThrow(TemplateError);
    expect(() => resolveDirectory('/srv/up/{username}', { username: '../up2' })).toThrow(TemplateError);
  });
});
