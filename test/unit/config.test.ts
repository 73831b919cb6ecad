import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyEnvOverrides, ConfigError, loadConfig, resolveConfig } from '../../src/config/load.js';

const disk = (directory = './d') => ({ type: 'disk' as const, directory });

/** Run `fn`, expect a ConfigError, and return it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** The problems of an invalid config, one line each. */
const problemsOf = (input: unknown) => configError(() => resolveConfig(input)).problems;

/** A config with one endpoint carrying `extra` keys. */
const withEndpoint = (extra: Record<string, unknown>) => ({ endpoints: [{ path: '/files', store: disk(), ...extra }] });

describe('resolveConfig defaults', () => {
  it('an empty config (or none) listens on 127.0.0.1:1080 and serves /files from ./data/files', () => {
    for (const input of [{}, undefined, null]) {
      const config = resolveConfig(input);
      expect(config.server.host).toBe('127.0.0.1');
      expect(config.server.port).toBe(1080);
      expect(config.server.logLevel).toBe('info');
      expect(config.server.trustProxy).toEqual([]);
      expect(config.server.shutdownTimeout).toBe(10_000);
      expect(config.cors).toMatchObject({ origins: '*', credentials: false });
      expect(config.endpoints).toHaveLength(1);
      expect(config.endpoints[0]).toMatchObject({ path: '/files', store: { type: 'disk', directory: './data/files' }, maxMetadataSize: 8192 });
      expect(config.endpoints[0]?.maxSize).toBeUndefined();
    }
  });

  it('a partial server section keeps the other defaults', () => {
    const config = resolveConfig({ server: { port: 8080 } });
    expect(config.server).toMatchObject({ host: '127.0.0.1', port: 8080, idleTimeout: 60_000 });
    expect(config.endpoints[0]?.path).toBe('/files');
  });
});

describe('byte sizes', () => {
  it.each([
    ['100MB', 100e6],
    ['5MiB', 5 * 2 ** 20],
    ['5 mib', 5 * 2 ** 20],
    ['1.5GiB', 1.5 * 2 ** 30],
    ['1kb', 1000],
    ['42', 42],
    [1024, 1024],
    [0, 0],
  ])('%j is %i bytes', (input, bytes) => {
    expect(resolveConfig(withEndpoint({ maxSize: input })).endpoints[0]?.maxSize).toBe(bytes);
  });

  it.each([['abc'], [-1], [1.5], ['1.5'], ['10XB'], [''], [true], [Number.MAX_SAFE_INTEGER + 2]])('%j is refused, naming the key and the expected form', (input) => {
    const problems = problemsOf(withEndpoint({ maxSize: input }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^endpoints\[0\]\.maxSize: expected a byte size/);
    expect(problems[0]).toContain('"100MB"');
  });

  it('the message quotes the value it got', () => {
    expect(problemsOf(withEndpoint({ maxChunkSize: '10XB' }))[0]).toContain('got "10XB"');
  });
});

describe('durations', () => {
  it.each([
    ['24h', 24 * 3600 * 1000],
    ['30s', 30_000],
    ['10m', 600_000],
    ['7d', 7 * 24 * 3600 * 1000],
    [5000, 5000],
    ['5000', 5000],
  ])('%j is %i ms', (input, millis) => {
    expect(resolveConfig(withEndpoint({ expire: input })).endpoints[0]?.expire).toBe(millis);
    expect(resolveConfig({ server: { shutdownTimeout: input } }).server.shutdownTimeout).toBe(millis);
  });

  it.each([['soon'], [-5], [1.5], ['-1h']])('%j is refused, naming the key', (input) => {
    const problems = problemsOf({ server: { idleTimeout: input } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^server\.idleTimeout: expected a duration/);
  });
});

describe('config errors name the key and what was expected', () => {
  it('an unknown top-level key lists the allowed keys', () => {
    const error = configError(() => resolveConfig({ servr: { port: 1 } }));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^\(top level\): unknown key "servr" \(allowed: server, cors, endpoints.*\)$/);
    expect(error.message).toContain('Invalid config');
    expect(error.message).toContain('unknown key "servr"');
  });

  it('the source given to resolveConfig is named in the message', () => {
    expect(configError(() => resolveConfig({ nope: 1 }, 'config (tusport.yaml)')).message).toMatch(/^Invalid config \(tusport\.yaml\):/);
  });

  it('an unknown endpoint key lists the endpoint keys', () => {
    const [problem, ...rest] = problemsOf(withEndpoint({ maxsize: '1GB' }));
    expect(rest).toEqual([]);
    expect(problem).toMatch(/^endpoints\[0\]: unknown key "maxsize" \(allowed: path, store, maxSize, maxChunkSize/);
  });

  it('an unknown server key lists the server keys', () => {
    // Checked loosely so a new server key does not break it.
    expect(problemsOf({ server: { listen: 80 } })[0]).toMatch(/^server: unknown key "listen" \(allowed: host, port, .*shutdownTimeout.*logLevel.*\)$/);
  });

  it.each([['abc'], [''], [null], [true], [[]], [1.5], [-1], [65536]])('server.port %j is refused', (port) => {
    const problems = problemsOf({ server: { port } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^server\.port: /);
  });

  it('server.port "abc" says a port number was expected', () => {
    expect(problemsOf({ server: { port: 'abc' } })).toEqual(['server.port: expected a TCP port number from 0 to 65535']);
    expect(problemsOf({ server: { port: 99999 } })).toEqual(['server.port: expected a TCP port number from 0 to 65535']);
  });

  it('server.port given as a numeric string (env, CLI flag) is accepted', () => {
    expect(resolveConfig({ server: { port: '8080' } }).server.port).toBe(8080);
  });

  it('endpoints: {} says a list was expected', () => {
    expect(problemsOf({ endpoints: {} })).toEqual(['endpoints: expected a list of endpoints']);
  });

  it('endpoints: [] says at least one is needed', () => {
    expect(problemsOf({ endpoints: [] })).toEqual(['endpoints: expected at least one endpoint']);
  });

  it('a bad store says what a store looks like', () => {
    expect(problemsOf(withEndpoint({ store: { type: 's4' } }))[0]).toMatch(/^endpoints\[0\]\.store(\.type)?: expected a store: \{ type: "disk"/);
  });

  it("store.sync: disk defaults to 'request'; S3 has no fsync, so the key is unknown there", () => {
    expect(resolveConfig(withEndpoint({})).endpoints[0]!.store).toMatchObject({ type: 'disk', sync: 'request' });
    expect(resolveConfig(withEndpoint({ store: { ...disk(), sync: 'none' } })).endpoints[0]!.store).toMatchObject({ sync: 'none' });
    expect(problemsOf(withEndpoint({ store: { ...disk(), sync: true } }))).toEqual(['endpoints[0].store.sync: expected "request" (fsync before each acknowledgement) or "none" (no fsync)']);
    expect(problemsOf(withEndpoint({ store: { type: 's3', bucket: 'b', sync: 'none' } }))[0]).toMatch(/^endpoints\[0\]\.store: unknown key "sync"/);
  });

  it('a bad log level names the key', () => {
    expect(problemsOf({ server: { logLevel: 'loud' } })[0]).toMatch(/^server\.logLevel: /);
  });

  it('every problem is reported, not just the first', () => {
    const problems = problemsOf({ server: { port: 'abc', host: 5 }, cors: { credentials: 'yes' } });
    expect(problems.map((p) => p.split(':')[0])).toEqual(expect.arrayContaining(['server.port', 'server.host', 'cors.credentials']));
  });
});

describe('endpoint paths', () => {
  it('the same path twice collides', () => {
    const problems = problemsOf({ endpoints: [{ path: '/files', store: disk('a') }, { path: '/files', store: disk('b') }] });
    expect(problems).toEqual(['endpoints[1].path: "/files" collides with endpoints[0].path "/files": they match the same URLs']);
  });

  it('a trailing slash does not make a path different', () => {
    const problems = problemsOf({ endpoints: [{ path: '/files', store: disk('a') }, { path: '/files/', store: disk('b') }] });
    expect(problems[0]).toMatch(/^endpoints\[1\]\.path: .*collides with endpoints\[0\]\.path/);
  });

  it('params with different names at the same place collide', () => {
    const problems = problemsOf({
      endpoints: [
        { path: '/users/{a}/uploads', store: disk('a') },
        { path: '/users/{b}/uploads', store: disk('b') },
      ],
    });
    expect(problems).toEqual(['endpoints[1].path: "/users/{b}/uploads" collides with endpoints[0].path "/users/{a}/uploads": they match the same URLs']);
  });

  it("an endpoint whose URLs are another's upload URLs collides", () => {
    for (const paths of [
      ['/files', '/files/{x}'],
      ['/files/{x}', '/files'],
      ['/files', '/{any}/{x}'],
    ]) {
      const problems = problemsOf({ endpoints: paths.map((p, i) => ({ path: p, store: disk(`d${i}`) })) });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^endpoints\[1\]\.path: .* collides with endpoints\[0\]\.path .*: they match each other's upload URLs$/);
    }
  });

  it('paths that merely share a prefix do not collide', () => {
    const config = resolveConfig({
      endpoints: [
        { path: '/files', store: disk('a') },
        { path: '/files/big/uploads', store: disk('b') },
        { path: '/users/{username}/uploads', store: disk('c/{username}') },
        { path: '/users/{username}/avatars', store: disk('d/{username}') },
      ],
    });
    expect(config.endpoints.map((e) => e.path)).toEqual(['/files', '/files/big/uploads', '/users/{username}/uploads', '/users/{username}/avatars']);
  });

  it('a store directory may only use params of its URL', () => {
    expect(problemsOf(withEndpoint({ store: disk('./data/{username}') }))).toEqual([
      'endpoints[0].store.directory: uses {username}, which the endpoint path "/files" does not have (it has: no params)',
    ]);
    const problems = problemsOf({ endpoints: [{ path: '/users/{user}/uploads', store: disk('./data/{username}') }] });
    expect(problems).toEqual(['endpoints[0].store.directory: uses {username}, which the endpoint path "/users/{user}/uploads" does not have (it has: {user})']);
    expect(resolveConfig({ endpoints: [{ path: '/users/{user}/uploads', store: disk('./data/{user}') }] }).endpoints[0]?.store).toMatchObject({ directory: './data/{user}' });
  });

  it.each([
    ['files', 'must start with "/"'],
    ['/', 'must not be "/"'],
    ['/a//b', 'empty segments'],
    ['/a/{b}c', 'a {param} must be a whole path segment'],
    ['/a/{1x}', 'must be a name of letters, digits and "_"'],
    ['/a/{}', 'must be a name'],
    ['/a/{b}/{b}', 'param "{b}" appears twice'],
    ['/a/..', 'not allowed in a URL path'],
    ['/a b', 'not allowed in a URL path'],
  ])('template %j is refused: %s', (template, expected) => {
    const problems = problemsOf({ endpoints: [{ path: template, store: disk() }] });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^endpoints\\[0\\]\\.path: ${JSON.stringify(template).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} `));
    expect(problems[0]).toContain(expected);
  });

  it('a path that is not a string says a URL template was expected', () => {
    expect(problemsOf({ endpoints: [{ path: 5, store: disk() }] })[0]).toMatch(/^endpoints\[0\]\.path: expected a URL template/);
  });
});

describe('cors', () => {
  it('credentials with origins "*" is refused', () => {
    const problems = problemsOf({ cors: { credentials: true } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^cors\.credentials: credentials need an explicit cors\.origins list/);
  });

  it('credentials with a list of origins is fine', () => {
    expect(resolveConfig({ cors: { credentials: true, origins: ['https://a.example'] } }).cors).toMatchObject({
      credentials: true,
      origins: ['https://a.example'],
    });
  });

  it('origins must be "*" or a list', () => {
    expect(problemsOf({ cors: { origins: 'https://a.example' } })[0]).toMatch(/^cors\.origins: expected "\*" or a list of origins/);
  });
});

describe('applyEnvOverrides', () => {
  it('TUSPORT_HOST and TUSPORT_PORT set server.host and server.port', () => {
    const config = resolveConfig(applyEnvOverrides({}, { TUSPORT_HOST: '0.0.0.0', TUSPORT_PORT: '8080' }));
    expect(config.server.host).toBe('0.0.0.0');
    expect(config.server.port).toBe(8080);
  });

  it('TUSPORT__<KEY>__<KEY> sets nested keys, case-insensitively', () => {
    const raw = { endpoints: [{ path: '/files', store: disk() }] };
    const config = resolveConfig(
      applyEnvOverrides(raw, { TUSPORT__SERVER__LOGLEVEL: 'debug', TUSPORT__endpoints__0__MaxSize: '1GB', TUSPORT__Server__ShutdownTimeout: '5s' }),
    );
    expect(config.server.logLevel).toBe('debug');
    expect(config.endpoints[0]?.maxSize).toBe(1e9);
    expect(config.server.shutdownTimeout).toBe(5000);
  });

  it('does not modify the object it is given', () => {
    const raw = { server: { port: 1 } };
    applyEnvOverrides(raw, { TUSPORT_PORT: '2' });
    expect(raw).toEqual({ server: { port: 1 } });
  });

  it('values are parsed as JSON when they are JSON', () => {
    const config = resolveConfig(
      applyEnvOverrides({}, { TUSPORT__CORS__ORIGINS: '["https://a.example"]', TUSPORT__CORS__CREDENTIALS: 'true', TUSPORT__SERVER__TRUSTPROXY: '["10.0.0.0/8"]' }),
    );
    expect(config.cors.origins).toEqual(['https://a.example']);
    expect(config.cors.credentials).toBe(true);
    expect(config.server.trustProxy).toEqual(['10.0.0.0/8']);
  });

  it('a whole endpoint list can be given as JSON', () => {
    const config = resolveConfig(applyEnvOverrides({}, { TUSPORT__ENDPOINTS: JSON.stringify([{ path: '/up', store: disk('./up') }]) }));
    expect(config.endpoints.map((e) => e.path)).toEqual(['/up']);
  });

  it('an endpoint override without a config file applies to the default /files endpoint', () => {
    // The example in `tusport serve --help`: with no config file, endpoint 0 is the default one.
    const config = resolveConfig(applyEnvOverrides({}, { TUSPORT__ENDPOINTS__0__MAXSIZE: '1GB' }));
    expect(config.endpoints).toHaveLength(1);
    expect(config.endpoints[0]).toMatchObject({ path: '/files', store: { type: 'disk', directory: './data/files' }, maxSize: 1e9 });
  });

  it('an unknown key names the variable and the allowed keys', () => {
    const error = configError(() => applyEnvOverrides({}, { TUSPORT__SERVER__LISTEN: '80' }));
    expect(error.message).toContain('TUSPORT__SERVER__LISTEN');
    expect(error.message).toContain('"LISTEN" is not a config key here');
    expect(error.message).toContain('allowed: host, port, trustProxy');
    expect(configError(() => applyEnvOverrides({}, { TUSPORT__NOPE: 'x' })).message).toMatch(/TUSPORT__NOPE.*allowed: server, cors, endpoints/);
    expect(configError(() => applyEnvOverrides({}, { TUSPORT__ENDPOINTS__first__MAXSIZE: '1' })).message).toContain('TUSPORT__ENDPOINTS__first__MAXSIZE');
  });

  it('an invalid env value is reported with the key it set', () => {
    expect(configError(() => resolveConfig(applyEnvOverrides({}, { TUSPORT_PORT: 'http' }))).problems).toEqual(['server.port: expected a TCP port number from 0 to 65535']);
  });

  it('other variables are ignored', () => {
    expect(resolveConfig(applyEnvOverrides({}, { PATH: '/bin', TUSPORT: 'x', TUSPORTX__A: 'y', HOST: 'h', PORT: '1' })).server).toMatchObject({
      host: '127.0.0.1',
      port: 1080,
    });
  });
});

describe('loadConfig', () => {
  let dir: string;
  let file: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tusport-config-'));
    file = path.join(dir, 'tusport.yaml');
    await writeFile(
      file,
      ['server:', '  host: 127.0.0.2', '  port: 3000', '  logLevel: warn', 'endpoints:', '  - path: /files', '    store: { type: disk, directory: ./f }', '    maxSize: 1MB', ''].join('\n'),
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('reads the file and fills in defaults', () => {
    const config = loadConfig({ file, env: {} });
    expect(config.server).toMatchObject({ host: '127.0.0.2', port: 3000, logLevel: 'warn', idleTimeout: 60_000 });
    expect(config.endpoints[0]?.maxSize).toBe(1e6);
  });

  it('env beats the file; flags beat env', () => {
    const env = { TUSPORT_HOST: '127.0.0.3', TUSPORT_PORT: '4000', TUSPORT__SERVER__LOGLEVEL: 'debug', TUSPORT__ENDPOINTS__0__MAXSIZE: '2MB' };
    const fromEnv = loadConfig({ file, env });
    expect(fromEnv.server).toMatchObject({ host: '127.0.0.3', port: 4000, logLevel: 'debug' });
    expect(fromEnv.endpoints[0]?.maxSize).toBe(2e6);
    expect(fromEnv.endpoints[0]?.path).toBe('/files');
    const fromFlags = loadConfig({ file, env, flags: { host: '127.0.0.4', port: '5000' } });
    expect(fromFlags.server).toMatchObject({ host: '127.0.0.4', port: 5000, logLevel: 'debug' });
    expect(loadConfig({ file, env, flags: { port: 0 } }).server).toMatchObject({ host: '127.0.0.3', port: 0 });
  });

  it('TUSPORT__SERVER__PORT is the same key as TUSPORT_PORT, and flags still win', () => {
    expect(loadConfig({ env: { TUSPORT__SERVER__PORT: '4001' } }).server.port).toBe(4001);
    expect(loadConfig({ env: { TUSPORT__SERVER__PORT: '4001' }, flags: { port: '4002' } }).server.port).toBe(4002);
  });

  it('TUSPORT_CONFIG names the file when none is given', () => {
    expect(loadConfig({ env: { TUSPORT_CONFIG: file } }).server.port).toBe(3000);
  });

  // The value's source is named, not the file that happens to be loaded: `--port abc` was once
  // reported as "Invalid config (/path/tusport.yaml)".
  it('a bad flag is blamed on the flag, not on the config file', () => {
    const error = configError(() => loadConfig({ file, env: {}, flags: { port: 'eighty' } }));
    expect(error.problems).toEqual(['server.port: expected a TCP port number from 0 to 65535 (from command-line flag --port)']);
    expect(error.message).not.toContain(file);
  });

  it('a bad environment value is blamed on its variable, the most specific one winning', () => {
    const env = { TUSPORT_PORT: '99999', TUSPORT__ENDPOINTS__0__MAXSIZE: 'lots', TUSPORT__SERVER__LOGLEVEL: 'loud' };
    expect(configError(() => loadConfig({ file, env })).problems).toEqual([
      'server.port: expected a TCP port number from 0 to 65535 (from environment variable TUSPORT_PORT)',
      expect.stringMatching(/^server\.logLevel: .* \(from environment variable TUSPORT__SERVER__LOGLEVEL\)$/),
      expect.stringMatching(/^endpoints\[0\]\.maxSize: .* \(from environment variable TUSPORT__ENDPOINTS__0__MAXSIZE\)$/),
    ]);
    // A whole section from one variable: a key missing inside it is that variable's fault.
    const whole = configError(() => loadConfig({ env: { TUSPORT__ENDPOINTS: '[{"path": "/up"}]' } }));
    expect(whole.problems).toEqual([expect.stringMatching(/^endpoints\[0\]\.store: .* \(from environment variable TUSPORT__ENDPOINTS\)$/)]);
  });

  it('a bad value in the file is blamed on the file, a default on the defaults, a created entry on its variable', async () => {
    const bad = path.join(dir, 'bad-port.yaml');
    await writeFile(bad, 'server:\n  port: abc\n  prot: 1\n');
    const problems = configError(() => loadConfig({ file: bad, env: {} })).problems;
    expect(problems).toHaveLength(2);
    expect(problems).toContain(`server.port: expected a TCP port number from 0 to 65535 (from config file ${bad})`);
    expect(problems).toContainEqual(expect.stringMatching(new RegExp(`^server: unknown key "prot" \\(allowed: .*\\) \\(from config file ${bad.replace(/[.\\]/g, '\\$&')}\\)$`)));
    // The default endpoint /files does not have {user}: the store directory the variable set is
    // to blame, the path (a default) is not.
    const env = { TUSPORT__ENDPOINTS__0__STORE__DIRECTORY: './data/{user}' };
    expect(configError(() => loadConfig({ env })).problems).toEqual([
      expect.stringMatching(/^endpoints\[0\]\.store\.directory: uses \{user\}.* \(from environment variable TUSPORT__ENDPOINTS__0__STORE__DIRECTORY\)$/),
    ]);
    // The demo page's default path "/" collides with an endpoint the variable moved to "/{name}".
    expect(configError(() => loadConfig({ env: { TUSPORT__ENDPOINTS__0__PATH: '/{name}' } })).problems).toEqual([
      expect.stringMatching(/^demo\.path: "\/" collides with endpoints\[0\]\.path "\/\{name\}".* \(from the defaults\)$/),
    ]);
    expect(configError(() => loadConfig({ env: { TUSPORT__ENDPOINTS__1__PATH: '/more' } })).problems).toEqual([
      expect.stringMatching(/^endpoints\[1\]\.store: .* \(from environment variable TUSPORT__ENDPOINTS__1__PATH\)$/),
    ]);
    expect(configError(() => loadConfig({ env: { TUSPORT__CORS__CREDENTIALS: 'true' } })).problems).toEqual([
      expect.stringMatching(/^cors\.credentials: .* \(from environment variable TUSPORT__CORS__CREDENTIALS\)$/),
    ]);
  });

  it('a missing file, unparsable YAML and a non-mapping are ConfigErrors naming the file', async () => {
    const missing = path.join(dir, 'missing.yaml');
    expect(configError(() => loadConfig({ file: missing, env: {} })).message).toBe(`Cannot read config file ${missing}: ENOENT`);
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, 'server: [\n  port: 1\n');
    expect(configError(() => loadConfig({ file: broken, env: {} })).message).toMatch(new RegExp(`^Config file ${broken.replace(/[.\\]/g, '\\$&')} is not valid YAML/JSON: .*line \\d+`));
    const duplicate = path.join(dir, 'duplicate.yaml');
    await writeFile(duplicate, 'server: {}\nserver: {}\n');
    expect(configError(() => loadConfig({ file: duplicate, env: {} })).message).toContain('not valid YAML/JSON');
    const list = path.join(dir, 'list.json');
    await writeFile(list, '[1, 2]');
    expect(configError(() => loadConfig({ file: list, env: {} })).message).toBe(`Config file ${list}: expected a mapping of keys at the top level`);
  });

  it('an empty file is the default config', async () => {
    const empty = path.join(dir, 'empty.yaml');
    await writeFile(empty, '');
    expect(loadConfig({ file: empty, env: {} }).endpoints[0]?.path).toBe('/files');
  });

  it('JSON files are read too', async () => {
    const json = path.join(dir, 'tusport.json');
    await writeFile(json, JSON.stringify({ server: { port: 1234 }, endpoints: [{ path: '/up', store: disk('./up'), expire: '24h' }] }));
    const config = loadConfig({ file: json, env: {} });
    expect(config.server.port).toBe(1234);
    expect(config.endpoints[0]).toMatchObject({ path: '/up', expire: 86_400_000 });
  });
});

describe('demo', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tusport-demo-config-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('is off in a config, on without a config file; --demo / --no-demo and the environment switch it', async () => {
    const file = path.join(dir, 'tusport.yaml');
    await writeFile(file, 'endpoints:\n  - path: /up\n    store: { type: disk, directory: ./up }\n');
    expect(resolveConfig({}).demo).toEqual({ enabled: false, path: '/' });
    expect(loadConfig({ file, env: {} }).demo.enabled).toBe(false);
    expect(loadConfig({ env: {} }).demo).toEqual({ enabled: true, path: '/' });
    expect(loadConfig({ file, env: {}, flags: { demo: true } }).demo.enabled).toBe(true);
    expect(loadConfig({ env: {}, flags: { demo: false } }).demo.enabled).toBe(false);
    expect(loadConfig({ env: { TUSPORT__DEMO: 'false' } }).demo.enabled).toBe(false);
    expect(loadConfig({ file, env: { TUSPORT__DEMO__PATH: '/try' } }).demo).toEqual({ enabled: true, path: '/try' });
    // The flag switches a section on or off and keeps its other keys.
    await writeFile(file, 'demo: { enabled: false, path: /try }\n');
    expect(loadConfig({ file, env: {}, flags: { demo: true } }).demo).toEqual({ enabled: true, path: '/try' });
  });

  it('a section fills in enabled and path', () => {
    expect(resolveConfig({ demo: { endpoint: '/files' } }).demo).toEqual({ enabled: true, path: '/', endpoint: '/files' });
  });

  it('a demo path that overlaps an endpoint is refused, naming both keys', () => {
    const endpoints = [{ path: '/upload/files/here', store: disk() }, { path: '/{tenant}', store: disk('./t/{tenant}') }];
    const problems = problemsOf({ endpoints, demo: true });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^demo\.path: "\/" collides with endpoints\[1\]\.path "\/\{tenant\}"/);
    expect(problemsOf({ endpoints: [{ path: '/files', store: disk() }], demo: { path: '/files' } })[0]).toMatch(/^demo\.path: "\/files" collides with endpoints\[0\]\.path "\/files"/);
    // The page's assets sit beside it: /files/app.js would be an upload URL of /files.
    expect(problemsOf({ endpoints: [{ path: '/files', store: disk() }], demo: { path: '/files/' } })[0]).toMatch(/^demo\.path: .*collides with endpoints\[0\]/);
    // A disabled demo mounts nothing, so nothing collides.
    expect(resolveConfig({ endpoints: [{ path: '/files', store: disk() }], demo: { enabled: false, path: '/files' } }).demo.enabled).toBe(false);
    expect(resolveConfig({ endpoints: [{ path: '/users/{username}/uploads', store: disk('./u/{username}') }], demo: true }).demo.enabled).toBe(true);
  });

  it.each([
    [{ path: 'demo' }, /^demo\.path: "demo" must start with "\/"/],
    [{ path: '/a/{b}' }, /^demo\.path: "\/a\/\{b\}" must be a fixed path/],
    [{ path: '/healthz' }, /^demo\.path: "\/healthz" is taken by the health check/],
    [{ endpoint: '/nope' }, /^demo\.endpoint: "\/nope" is not an endpoint path here \(configured: "\/files"\)/],
    ['yes', /^demo: expected true, false or \{ enabled, path, endpoint \}/],
  ])('%j is refused', (demo, message) => {
    expect(problemsOf({ demo })[0]).toMatch(message);
  });
});

describe('server.publicUrl', () => {
  it('is optional, kept without a trailing slash, path prefix and port included', () => {
    expect(resolveConfig({}).server.publicUrl).toBeUndefined();
    expect(resolveConfig({ server: { publicUrl: 'https://Uploads.Example.com/' } }).server.publicUrl).toBe('https://uploads.example.com');
    expect(resolveConfig({ server: { publicUrl: 'https://example.com:8443/tus/v1/' } }).server.publicUrl).toBe('https://example.com:8443/tus/v1');
    expect(resolveConfig({ server: { publicUrl: 'http://127.0.0.1:1080' } }).server.publicUrl).toBe('http://127.0.0.1:1080');
    expect(resolveConfig(applyEnvOverrides({}, { TUSPORT__SERVER__PUBLICURL: 'https://u.example' })).server.publicUrl).toBe('https://u.example');
  });

  it.each([
    ['uploads.example.com', 'expected an absolute http(s) URL'],
    ['/files', 'expected an absolute http(s) URL'],
    ['ftp://uploads.example.com', 'must be http or https, not ftp'],
    ['javascript:alert(1)', 'must be http or https'],
    ['https://user:secret@uploads.example.com', 'must not contain credentials'],
    ['https://uploads.example.com/?a=1', 'must not have a query or fragment'],
    ['https://uploads.example.com/#x', 'must not have a query or fragment'],
  ])('%j is refused, naming the key', (publicUrl, message) => {
    const problems = problemsOf({ server: { publicUrl } });
    expect(problems.join('\n')).toContain('server.publicUrl');
    expect(problems.join('\n')).toContain(message);
  });
});
