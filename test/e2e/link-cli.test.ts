import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorOf, raw, TUS } from '../helpers/http.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/** `tusport link` (the real CLI) against a real server: the link it prints downloads without a token. */
const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));
const SECRET = 'a-link-secret-long-enough-0123456789abcdef';
const TOKEN = 'alice-token-0123456789abcdef';
let server: RunningTusport;
let configFile: string;
let uploadUrl: string;

const endpoint = (dir: string) => ({
  path: '/users/{username}/uploads',
  store: { type: 'disk' as const, directory: path.join(dir, 'store', '{username}') },
  auth: { type: 'bearer' as const, tokens: [{ id: 'alice', token: TOKEN }] },
  downloads: { linkSecret: SECRET },
});

beforeAll(async () => {
  server = await startTusport((dir) => ({ endpoints: [endpoint(dir)] }));
  configFile = path.join(server.dir, 'tusport.json');
  await writeFile(configFile, JSON.stringify({ endpoints: [{ path: '/other', store: { type: 'disk', directory: path.join(server.dir, 'o') } }, endpoint(server.dir)] }));
  const created = await raw(server.url, {
    method: 'POST',
    path: '/users/alice/uploads',
    headers: { ...TUS, Authorization: `Bearer ${TOKEN}`, 'Upload-Length': 11, 'Content-Type': 'application/offset+octet-stream', 'Upload-Metadata': `filename ${Buffer.from('hello.txt').toString('base64')}` },
    body: 'hello world',
  });
  expect(created.status).toBe(201);
  uploadUrl = String(created.headers.location);
});
afterAll(() => server?.close());

const link = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [BIN, 'link', uploadUrl, ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });

describe('tusport link', () => {
  it('with --config: finds the endpoint by the URL, prints a link that downloads without the token', async () => {
    const run = link(['--expires', '1h', '--config', configFile]);
    expect(run.status, run.stderr).toBe(0);
    const printed = new URL(run.stdout.trim());
    expect(Number(printed.searchParams.get('expires')) - Date.now() / 1000).toBeGreaterThan(3500);
    expect(run.stdout + run.stderr).not.toContain(SECRET);
    const response = await fetch(printed);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe('hello world');
    expect((await raw(server.url, { method: 'GET', path: new URL(uploadUrl).pathname })).status).toBe(401);
  });

  it('with --secret-env and --download: the link saves as an attachment', async () => {
    const run = link(['--expires', '10m', '--secret-env', 'LINK_SECRET', '--download'], { LINK_SECRET: SECRET });
    expect(run.status, run.stderr).toBe(0);
    const response = await fetch(run.stdout.trim());
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="hello.txt"/);
  });

  it('a link signed with the wrong secret is refused with 403 and a named code', async () => {
    const run = link(['--secret-env', 'LINK_SECRET'], { LINK_SECRET: 'x'.repeat(40) });
    const printed = new URL(run.stdout.trim());
    const response = await raw(server.url, { method: 'GET', path: printed.pathname + printed.search });
    expect(response.status).toBe(403);
    expect(errorOf(response).code).toBe('TUSPORT_ERR_LINK_INVALID');
  });

  it.each([
    ['a bad duration', ['--expires', 'soon', '--secret', SECRET], /--expires/],
    ['an URL no endpoint with a link secret serves', ['--config', 'CONFIG'], /no endpoint with downloads.linkSecret/],
    ['an unset secret variable', ['--secret-env', 'TUSPORT_TEST_UNSET_SECRET'], /TUSPORT_TEST_UNSET_SECRET is not set/],
  ])('exits 2 with a message for %s', (_label, args, message) => {
    const other = args.map((arg) => (arg === 'CONFIG' ? configFile : arg));
    const run = other.includes(configFile)
      ? spawnSync(process.execPath, [BIN, 'link', `${server.url}/other/abc`, ...other], { encoding: 'utf8' })
      : link(other);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });
});
