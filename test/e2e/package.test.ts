import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkoutFiles, copyFiles } from '../helpers/checkout.js';
import { killAll, run, start } from '../helpers/cli.js';
import { idOf, sha256, sha256File } from '../helpers/files.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

/**
 * The npm package as a user gets it: `npm pack` on a fresh clone (no dist/: prepack must build
 * it), `npm install <tarball>` into an empty project, then the library and the bin from there.
 * The install resolves dependencies from the npm registry (the local cache first), as a user's
 * would: npm does not ship package-lock.json in a tarball.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const exec = promisify(execFile);
const MiB = 1024 * 1024;

let scratch: Awaited<ReturnType<typeof tempDir>>;
let packed: { tarball: string; files: string[] };
let project: string;
let version: string;
// The installed bin runs with `#!/usr/bin/env node`: put the node running the tests first.
const PATH = `${path.dirname(process.execPath)}${path.delimiter}${process.env.PATH ?? ''}`;

beforeAll(async () => {
  scratch = await tempDir('tusport-package-');
  ({ version } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as { version: string });

  const clone = path.join(scratch.dir, 'clone');
  await copyFiles(ROOT, checkoutFiles(ROOT), clone);
  // The dev dependencies prepack's build needs (tsc): the checkout's own, not a second install.
  await symlink(path.join(ROOT, 'node_modules'), path.join(clone, 'node_modules'));
  const out = path.join(scratch.dir, 'out');
  await mkdir(out);
  const pack = await exec('npm', ['pack', '--json', '--pack-destination', out], { cwd: clone, env: { ...process.env, PATH }, maxBuffer: 16 * MiB });
  // npm prints prepack's output before the JSON on stdout.
  const [result] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('\n[') + 1)) as { filename: string; files: { path: string }[] }[];
  packed = { tarball: path.join(out, result!.filename), files: result!.files.map((f) => f.path) };

  project = path.join(scratch.dir, 'consumer');
  await mkdir(project);
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  await exec('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', packed.tarball], { cwd: project, env: { ...process.env, PATH }, maxBuffer: 16 * MiB });
}, 900_000);
afterEach(killAll);
afterAll(async () => {
  await killAll();
  await scratch?.remove();
});

describe('the npm package (npm pack on a fresh clone, installed into an empty project)', () => {
  it('holds the built dist/ (prepack builds it), the bin and the demo page, and no sources or tests', () => {
    for (const file of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/index.js', 'bin/tusport.js', 'examples/uppy/index.html', 'package.json']) {
      expect(packed.files, file).toContain(file);
    }
    expect(packed.files.filter((file) => /^(src|test|bench|node_modules|data)\//.test(file))).toEqual([]);
  });

  it('imports from an ESM script: buildApp serves a tus endpoint from the installed package', async () => {
    const script = path.join(project, 'embed.mjs');
    await writeFile(
      script,
      `import { buildApp } from 'tusport';
const app = buildApp({ server: { logLevel: 'silent' }, endpoints: [{ path: '/up', store: { type: 'disk', directory: './embedded' } }] });
await app.listen({ host: '127.0.0.1', port: 0 });
const response = await fetch(\`http://127.0.0.1:\${app.server.address().port}/up\`, { method: 'OPTIONS', headers: { 'Tus-Resumable': '1.0.0' } });
console.log(JSON.stringify({ status: response.status, extensions: response.headers.get('tus-extension') }));
await app.close();
`,
    );
    const { stdout } = await exec(process.execPath, [script], { cwd: project });
    const answer = JSON.parse(stdout) as { status: number; extensions: string };
    expect(answer.status).toBe(204);
    expect(answer.extensions).toContain('creation');
  });

  it('npx tusport --version (and -V) prints the package version', async () => {
    // Exactly what a user types; npx finds the installed bin and does not ask the registry.
    for (const flag of ['--version', '-V']) {
      const { stdout } = await exec('npx', ['tusport', flag], { cwd: project, env: { ...process.env, PATH } });
      expect(stdout, flag).toBe(`${version}\n`);
    }
  });

  it('the installed tusport bin serves an upload from a config file, byte-identical', async () => {
    const config = path.join(project, 'tusport.yaml');
    await writeFile(config, 'endpoints:\n  - path: /files\n    store: { type: disk, directory: ./uploads }\n');
    const bin = path.join(project, 'node_modules/.bin/tusport');
    const server = await start(['serve', '--config', config, '--port', '0'], project, { PATH }, [bin]);
    const data = randomBytes(2 * MiB + 5);
    const { url } = await tusUpload(data, { endpoint: `${server.url}/files`, chunkSize: MiB });
    const id = idOf(url);
    expect(await sha256File(path.join(project, 'uploads', id))).toBe(sha256(data));
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
    // ...and the same bin answers --help the way the checkout's does.
    const help = await run(['--help'], project, { PATH }, 15_000, [bin]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tusport/);
  });
});
