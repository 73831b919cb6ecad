import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/server.js';

/**
 * tusport as a dependency of someone else's project: the package built from this tree (its
 * `tsc` build, into a temp dir so the dist/ other tests run stays untouched), installed as
 * `node_modules/tusport` of a consumer project that brings its own fastify (the peer dependency).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/consumer/', import.meta.url));
const TSC = path.join(ROOT, 'node_modules/typescript/bin/tsc');
const run = promisify(execFile);

let dir: Awaited<ReturnType<typeof tempDir>>;
let consumer: string;

beforeAll(async () => {
  dir = await tempDir('tusport-consumer-');
  const pkg = path.join(dir.dir, 'pkg');
  consumer = path.join(dir.dir, 'consumer');
  await mkdir(pkg, { recursive: true });
  await run(process.execPath, [TSC, '-p', path.join(ROOT, 'tsconfig.build.json'), '--outDir', path.join(pkg, 'dist')], { cwd: ROOT });
  await copyFile(path.join(ROOT, 'package.json'), path.join(pkg, 'package.json'));
  // tusport's own dependencies, as an install would put them beside it.
  await symlink(path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules'));
  await mkdir(path.join(consumer, 'node_modules/@types'), { recursive: true });
  await symlink(pkg, path.join(consumer, 'node_modules/tusport'));
  await symlink(path.join(ROOT, 'node_modules/fastify'), path.join(consumer, 'node_modules/fastify'));
  await symlink(path.join(ROOT, 'node_modules/@types/node'), path.join(consumer, 'node_modules/@types/node'));
  await writeFile(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  for (const file of ['index.ts', 'host.mjs']) await copyFile(path.join(FIXTURE, file), path.join(consumer, file));
}, 180_000);
afterAll(() => dir?.remove());

describe('a project that depends on tusport', () => {
  it('type-checks against the published declarations with skipLibCheck off (strict, nodenext)', async () => {
    const tsconfig = {
      compilerOptions: { strict: true, skipLibCheck: false, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] },
      include: ['index.ts'],
    };
    await writeFile(path.join(consumer, 'tsconfig.json'), JSON.stringify(tsconfig));
    const result = await run(process.execPath, [TSC, '-p', consumer, '--listFiles'], { cwd: consumer }).then(
      (out) => ({ code: 0, output: out.stdout }),
      (error: { code: number; stdout: string; stderr: string }) => ({ code: error.code, output: `${error.stdout}${error.stderr}` }),
    );
    expect(result.output.split('\n').filter((line) => line.includes('error TS'))).toEqual([]);
    expect(result.code).toBe(0);
    // What the public types load: tusport's own declarations, never @tus/server's or srvx's.
    const loaded = result.output.split('\n').map((line) => line.replaceAll('\\', '/'));
    expect(loaded.some((file) => file.includes('/pkg/dist/index.d.ts'))).toBe(true);
    expect(loaded.filter((file) => /node_modules\/(@tus|srvx|@aws-sdk|ioredis)\//.test(file))).toEqual([]);
  }, 120_000);

  it('runs a host app with two tusports, uploads through both, and exits by itself after close()', async () => {
    const child = spawn(process.execPath, [path.join(consumer, 'host.mjs'), dir.dir], { cwd: consumer, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => (stdout += text));
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    // A hang detector, not a speed bound: a process kept alive by a leftover handle never exits.
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(watchdog);
    expect({ code, signal, stderr }).toEqual({ code: 0, signal: null, stderr: '' });
    expect(stdout.split('\n').filter(Boolean)).toEqual(['/uploads 201 5 true', '/avatars 201 5 true', 'post-finish 44', 'closed, intervals still running: 0']);
  }, 90_000);
});
