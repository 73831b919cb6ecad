import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';
import { killAll, type Running, run, start, until } from '../helpers/cli.js';
import { sha256, sha256File, sizeOf } from '../helpers/files.js';
import { createUpload, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

const STACK_LINE = /^\s+at /m;

let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  scratch = await tempDir('tusport-cli-');
});
afterEach(async () => {
  await killAll();
  await scratch.remove();
});
afterAll(killAll);

describe('usage', () => {
  it('tusport --help and tusport serve --help exit 0 and describe the flags and the env scheme', async () => {
    for (const args of [['--help'], ['serve', '--help']]) {
      const result = await run(args, scratch.dir);
      expect(result.code, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/^Usage: tusport/);
      for (const word of ['--config', '--host', '--port', 'TUSPORT__']) expect(result.stdout, `${args.join(' ')} mentions ${word}`).toContain(word);
    }
  });

  it('tusport --version and -V print the version from package.json and exit 0', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const result = await run([flag], scratch.dir);
      expect(result.code, flag).toBe(0);
      expect(result.stdout, flag).toBe(`${version}\n`);
      expect(result.stderr, flag).toBe('');
    }
  });

  it('no arguments prints usage and exits 2', async () => {
    const result = await run([], scratch.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Usage: tusport');
  });

  it('an unknown flag or command exits 2 and names it', async () => {
    const flag = await run(['serve', '--prot', '1'], scratch.dir);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain("unknown option '--prot'");
    const command = await run(['srve'], scratch.dir);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("unknown command 'srve'");
  });
});

describe('configuration errors exit 2 with a message, not a stack trace', () => {
  const cases: { name: string; yaml: string | undefined; json: string | undefined; expected: RegExp[] }[] = [
    {
      name: 'unknown key',
      yaml: 'server:\n  port: 0\n  prot: 8080\n',
      json: '{"server": {"port": 0, "prot": 8080}}',
      expected: [/server: unknown key "prot"/, /allowed: host, port/],
    },
    {
      name: 'wrong type',
      yaml: 'server:\n  port: abc\n',
      json: '{"server": {"port": "abc"}}',
      expected: [/server\.port: expected a TCP port number/],
    },
    {
      name: 'colliding paths',
      yaml: 'endpoints:\n  - path: /files\n    store: { type: disk, directory: ./a }\n  - path: /files/{x}\n    store: { type: disk, directory: ./b }\n',
      json: '{"endpoints": [{"path": "/files", "store": {"type": "disk", "directory": "./a"}}, {"path": "/files/{x}", "store": {"type": "disk", "directory": "./b"}}]}',
      expected: [/endpoints\[1\]\.path: "\/files\/\{x\}" collides with endpoints\[0\]\.path "\/files"/],
    },
    {
      name: 'store param missing from the URL',
      yaml: 'endpoints:\n  - path: /files\n    store: { type: disk, directory: "./data/{username}" }\n',
      json: '{"endpoints": [{"path": "/files", "store": {"type": "disk", "directory": "./data/{username}"}}]}',
      expected: [/endpoints\[0\]\.store\.directory: uses \{username\}, which the endpoint path "\/files" does not have/],
    },
    {
      name: 'unparsable file',
      yaml: 'server:\n  port: [1\n',
      json: '{"server": {"port": 1,}',
      expected: [/is not valid YAML\/JSON/, /line \d+/],
    },
    { name: 'missing file', yaml: undefined, json: undefined, expected: [/Cannot read config file .*ENOENT/] },
  ];

  it.each(cases.flatMap((c) => [{ ...c, format: 'yaml' as const }, { ...c, format: 'json' as const }]))('$name ($format)', async ({ yaml, json, format, expected }) => {
    const file = path.join(scratch.dir, `tusport.${format}`);
    const text = format === 'yaml' ? yaml : json;
    if (text !== undefined) await writeFile(file, text);
    const result = await run(['serve', '--config', file], scratch.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^tusport: /);
    expect(result.stderr).toContain(file);
    for (const pattern of expected) expect(result.stderr).toMatch(pattern);
    expect(result.stderr).not.toMatch(STACK_LINE);
    expect(result.stdout).not.toContain('listening');
  });

  it('a bad environment variable exits 2 and names the variable', async () => {
    const result = await run(['serve', '--port', '0'], scratch.dir, { TUSPORT__SERVER__PROT: '1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('TUSPORT__SERVER__PROT');
    expect(result.stderr).toContain('allowed: host, port');
    expect(result.stderr).not.toMatch(STACK_LINE);
  });

  // These once all said "Invalid config (/path/tusport.yaml)", blaming a file that was fine.
  it('a bad --port, TUSPORT_PORT or TUSPORT__ value exits 2 naming the key, its source and what was expected, not the file', async () => {
    const file = path.join(scratch.dir, 'tusport.yaml');
    await writeFile(file, 'server:\n  port: 0\nendpoints:\n  - path: /up\n    store: { type: disk, directory: ./up }\n');
    const cases: { args: string[]; env: Record<string, string>; expected: RegExp }[] = [
      { args: ['--port', 'abc'], env: {}, expected: /server\.port: expected a TCP port number from 0 to 65535 \(from command-line flag --port\)/ },
      { args: [], env: { TUSPORT_PORT: '99999' }, expected: /server\.port: expected a TCP port number from 0 to 65535 \(from environment variable TUSPORT_PORT\)/ },
      {
        args: [],
        env: { TUSPORT__ENDPOINTS__0__MAXSIZE: 'lots' },
        expected: /endpoints\[0\]\.maxSize: expected .* \(from environment variable TUSPORT__ENDPOINTS__0__MAXSIZE\)/,
      },
    ];
    for (const { args, env, expected } of cases) {
      for (const withFile of [true, false]) {
        const label = `${args.join(' ')} ${JSON.stringify(env)}${withFile ? ' with a config file' : ''}`;
        const result = await run(['serve', ...(withFile ? ['--config', file] : []), ...args], scratch.dir, env);
        expect(result.code, label).toBe(2);
        expect(result.stderr, label).toMatch(/^tusport: Invalid config:\n/);
        expect(result.stderr, label).toMatch(expected);
        expect(result.stderr, label).not.toContain(file);
        expect(result.stderr, label).not.toMatch(STACK_LINE);
      }
    }
  });

  it('a bad value in the config file names the file beside the key', async () => {
    const file = path.join(scratch.dir, 'tusport.yaml');
    await writeFile(file, 'server:\n  port: 99999\n');
    const result = await run(['serve', '--config', file], scratch.dir);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`server.port: expected a TCP port number from 0 to 65535 (from config file ${file})`);
  });
});

describe('serving', () => {
  it('serve --port 0 without a config serves /files and stores into ./data/files', async () => {
    const server = await start(['serve', '--port', '0'], scratch.dir);
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': 11, 'Upload-Metadata': `filename ${Buffer.from('a.txt').toString('base64')}` });
    expect(uploadPath).toMatch(/^\/files\/[0-9a-f]{44}$/);
    const response = await patch(server.url, uploadPath, 0, Buffer.from('hello world'));
    expect(response.status).toBe(204);
    expect(response.headers['upload-offset']).toBe('11');
    const stored = path.join(scratch.dir, 'data', 'files', path.basename(uploadPath));
    expect(await readFile(stored, 'utf8')).toBe('hello world');
    const sidecar = JSON.parse(await readFile(`${stored}.json`, 'utf8'));
    expect(sidecar).toMatchObject({ size: 11, metadata: { filename: 'a.txt' }, tusport: { endpoint: '/files' } });
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('without a config file the Uppy demo page is on (npm start); --no-demo turns it off', async () => {
    const withDemo = await start(['serve', '--port', '0'], scratch.dir);
    await withDemo.waitForLog(`Uppy demo page: ${withDemo.url}/`);
    const page = await raw(withDemo.url, { method: 'GET', path: '/' });
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect((await raw(withDemo.url, { method: 'GET', path: '/uppy.min.mjs' })).status).toBe(200);
    withDemo.child.kill('SIGTERM');
    expect((await withDemo.exited).code).toBe(0);

    const without = await start(['serve', '--port', '0', '--no-demo'], scratch.dir);
    expect((await raw(without.url, { method: 'GET', path: '/' })).status).toBe(404);
    expect(without.output.stdout).not.toContain('Uppy demo page');
    without.child.kill('SIGTERM');
    expect((await without.exited).code).toBe(0);
  });

  it('--port beats TUSPORT_PORT, which beats the config file', async () => {
    const [filePort, envPort, flagPort] = [await freePort(), await freePort(), await freePort()];
    const file = path.join(scratch.dir, 'tusport.yaml');
    await writeFile(file, `server:\n  port: ${filePort}\nendpoints:\n  - path: /up\n    store: { type: disk, directory: ./up }\n`);
    const portOf = (server: Running) => Number(new URL(server.url).port);

    const fromFile = await start(['serve', '--config', file], scratch.dir);
    expect(portOf(fromFile)).toBe(filePort);
    expect((await raw(fromFile.url, { method: 'OPTIONS', path: '/up', headers: TUS })).status).toBe(204);
    fromFile.child.kill('SIGTERM');
    expect((await fromFile.exited).code).toBe(0);

    const fromEnv = await start(['serve', '--config', file], scratch.dir, { TUSPORT_PORT: String(envPort) });
    expect(portOf(fromEnv)).toBe(envPort);
    fromEnv.child.kill('SIGTERM');
    expect((await fromEnv.exited).code).toBe(0);

    // TUSPORT_CONFIG names the file just like --config does.
    const fromFlag = await start(['serve', '--port', String(flagPort)], scratch.dir, { TUSPORT_PORT: String(envPort), TUSPORT_CONFIG: file });
    expect(portOf(fromFlag)).toBe(flagPort);
    expect((await raw(fromFlag.url, { method: 'OPTIONS', path: '/up', headers: TUS })).status).toBe(204);
    fromFlag.child.kill('SIGTERM');
    expect((await fromFlag.exited).code).toBe(0);
  });

  it('TUSPORT__ENDPOINTS__0__MAXSIZE=10 limits the config file endpoint (and the default one)', async () => {
    const file = path.join(scratch.dir, 'tusport.json');
    await writeFile(file, JSON.stringify({ endpoints: [{ path: '/up', store: { type: 'disk', directory: './up' }, maxSize: '1MB' }] }));
    for (const [args, endpoint] of [
      [['serve', '--config', file, '--port', '0'], '/up'],
      [['serve', '--port', '0'], '/files'],
    ] as const) {
      const server = await start([...args], scratch.dir, { TUSPORT__ENDPOINTS__0__MAXSIZE: '10' });
      const tooBig = await raw(server.url, { method: 'POST', path: endpoint, headers: { ...TUS, 'Upload-Length': '11' } });
      expect(tooBig.status, endpoint).toBe(413);
      const fits = await raw(server.url, { method: 'POST', path: endpoint, headers: { ...TUS, 'Upload-Length': '10' } });
      expect(fits.status, endpoint).toBe(201);
      const options = await raw(server.url, { method: 'OPTIONS', path: endpoint, headers: TUS });
      expect(options.headers['tus-max-size'], endpoint).toBe('10');
      server.child.kill('SIGTERM');
      expect((await server.exited).code).toBe(0);
    }
  });

  it('warns at startup when a store location leaves out a URL param, unless store.sharedAcrossParams says it is meant', async () => {
    const file = path.join(scratch.dir, 'tusport.yaml');
    const config = (extra: string) =>
      `endpoints:\n  - path: /users/{username}/uploads\n    store: { type: disk, directory: ./data${extra} }\n  - path: /teams/{team}/{user}\n    store: { type: disk, directory: "./teams/{team}/{user}" }\n`;
    const warning = 'endpoint /users/{username}/uploads: store.directory';
    await writeFile(file, config(''));
    const warned = await start(['serve', '--config', file, '--port', '0'], scratch.dir);
    await warned.waitForLog(warning);
    const line = JSON.parse(warned.output.stdout.split('\n').find((l) => l.includes(warning)) ?? '{}');
    expect(line).toMatchObject({ level: 40, endpoint: '/users/{username}/uploads', params: ['username'] });
    expect(line.msg).toContain('store.directory "./data" does not use {username}');
    expect(line.msg).toContain('store.sharedAcrossParams: true');
    expect(warned.output.stdout).not.toContain('endpoint /teams/');
    warned.child.kill('SIGTERM');
    expect((await warned.exited).code).toBe(0);

    await writeFile(file, config(', sharedAcrossParams: true'));
    const quiet = await start(['serve', '--config', file, '--port', '0'], scratch.dir);
    quiet.child.kill('SIGTERM');
    const exit = await quiet.exited;
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('tusport listening');
    expect(exit.stdout).not.toContain('does not use {');
  });

  it('a port already in use exits 1 with a clear message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = blocker.address() as net.AddressInfo;
      const result = await run(['serve', '--port', String(port)], scratch.dir);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Cannot listen on 127.0.0.1:${port}: the address is already in use`);
      expect(result.stderr).not.toMatch(STACK_LINE);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM lets an in-flight PATCH finish, exits 0, and the upload resumes after a restart', async () => {
    const data = randomBytes(600_000);
    const first = 150_000;
    const second = 100_000;
    const server = await start(['serve', '--port', '0'], scratch.dir);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const stored = path.join(scratch.dir, 'data', 'files', path.basename(uploadPath));

    const body = new PassThrough();
    const response = patch(server.url, uploadPath, 0, body);
    body.write(data.subarray(0, first));
    await until(async () => (await sizeOf(stored)) === first, 'the first bytes on disk');

    server.child.kill('SIGTERM');
    await server.waitForLog('SIGTERM: shutting down');
    // Still streaming after the signal: bytes sent now reach the disk, so the process is alive and
    // still serving the in-flight request.
    body.write(data.subarray(first, first + second / 2));
    await until(async () => (await sizeOf(stored)) === first + second / 2, 'bytes sent after SIGTERM on disk');
    expect(server.child.exitCode).toBeNull();
    body.end(data.subarray(first + second / 2, first + second));

    const answer = await response;
    expect(answer.status).toBe(204);
    expect(answer.headers['upload-offset']).toBe(String(first + second));
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    expect(exit.stderr).toBe('');
    expect(sha256(await readFile(stored))).toBe(sha256(data.subarray(0, first + second)));

    // Same data directory, new process: the upload is where the acknowledged PATCH left it.
    const again = await start(['serve', '--port', '0'], scratch.dir);
    expect(await headOffset(again.url, uploadPath)).toBe(first + second);
    let resumedFrom = -1;
    await tusUpload(data, {
      uploadUrl: `${again.url}${uploadPath}`,
      chunkSize: 200_000,
      onProgress: (sent) => {
        if (resumedFrom < 0) resumedFrom = sent;
      },
    });
    expect(resumedFrom).toBeGreaterThanOrEqual(first + second);
    expect(await sha256File(stored)).toBe(sha256(data));
    expect(await headOffset(again.url, uploadPath)).toBe(data.length);
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  });

  it('SIGTERM with a PATCH that never finishes still exits 0 within shutdownTimeout, keeping the bytes received', async () => {
    const shutdownTimeout = 1000;
    const env = { TUSPORT__SERVER__SHUTDOWNTIMEOUT: String(shutdownTimeout) };
    const data = randomBytes(300_000);
    const sent = 120_000;
    const server = await start(['serve', '--port', '0'], scratch.dir, env);
    const uploadPath = await createUpload(server.url, '/files', { 'Upload-Length': data.length });
    const stored = path.join(scratch.dir, 'data', 'files', path.basename(uploadPath));

    const body = new PassThrough();
    const response = patch(server.url, uploadPath, 0, body).then(
      (r) => r.status,
      (error: Error) => error.message,
    );
    body.write(data.subarray(0, sent));
    await until(async () => (await sizeOf(stored)) === sent, 'the bytes on disk');

    server.child.kill('SIGTERM');
    const exit = await server.exited;
    expect(exit.code).toBe(0);
    // It waited for the request until shutdownTimeout, then closed it: in that order.
    const signalled = exit.stdout.indexOf('SIGTERM: shutting down');
    const timedOut = exit.stdout.indexOf('shutdown timeout: closing the connections still open');
    expect(signalled).toBeGreaterThanOrEqual(0);
    expect(timedOut).toBeGreaterThan(signalled);
    // The client never got a 204 for bytes it did not finish sending.
    expect(await response).not.toBe(204);
    body.destroy();

    const again = await start(['serve', '--port', '0'], scratch.dir, env);
    const offset = await headOffset(again.url, uploadPath);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThanOrEqual(sent);
    expect(sha256((await readFile(stored)).subarray(0, offset))).toBe(sha256(data.subarray(0, offset)));
    // And it resumes from there to a complete, identical file.
    await tusUpload(data, { uploadUrl: `${again.url}${uploadPath}` });
    expect(await sha256File(stored)).toBe(sha256(data));
    again.child.kill('SIGTERM');
    expect((await again.exited).code).toBe(0);
  });
});
