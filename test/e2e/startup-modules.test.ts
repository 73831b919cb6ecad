import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, killAll, start } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

// What an idle tusport holds is mostly the code it loaded (docs/BENCHMARKS.md, "Memory"): the AWS
// SDK alone is ~10 MB of RSS. Packages that only some configurations use must be loaded by those
// configurations, not by every `tusport serve`. A module-resolution hook records every module the
// process resolves, from the start until after an upload.

// Runs in Node's loader thread: append each resolved URL to the file named by the environment.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.TUSPORT_TEST_MODULE_LOG, resolved.url + '\\n');
  return resolved;
}
`;

let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  scratch = await tempDir('tusport-startup-modules-');
});
afterEach(async () => {
  await killAll();
  await scratch.remove();
});
afterAll(killAll);

/** Packages a disk-only tusport with default settings has no use for. */
const NOT_NEEDED = ['@aws-sdk/', '@smithy/', '@tus/s3-store', 'ioredis', 'file-type', 'prom-client', 'pino-pretty', 'busboy'];

async function modulesOfServe(config: object, configName = 'tusport.json'): Promise<string[]> {
  const hooks = path.join(scratch.dir, 'hooks.mjs');
  const register = path.join(scratch.dir, 'register.mjs');
  const log = path.join(scratch.dir, 'modules.txt');
  await writeFile(hooks, HOOKS);
  await writeFile(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  const configFile = path.join(scratch.dir, configName);
  await writeFile(configFile, JSON.stringify(config));
  const server = await start(['serve', '--config', configFile, '--port', '0'], scratch.dir, { TUSPORT_TEST_MODULE_LOG: log }, [process.execPath, '--import', register, BIN]);
  await tusUpload(Buffer.alloc(100_000, 1), { endpoint: `${server.url}/files` });
  server.child.kill('SIGTERM');
  expect((await server.exited).code).toBe(0);
  return (await readFile(log, 'utf8')).split('\n').filter(Boolean);
}

describe('modules a disk-only tusport loads', () => {
  it('has none of the packages only S3, Redis, metrics, content sniffing or form uploads use, after an upload', async () => {
    const modules = await modulesOfServe({ endpoints: [{ path: '/files', store: { type: 'disk', directory: path.join(scratch.dir, 'data') } }] });
    // The recorder saw the modules that did load (so an empty list cannot pass for a lean one).
    expect(modules.some((url) => url.includes('/node_modules/@tus/server/'))).toBe(true);
    expect(modules.some((url) => url.includes('/node_modules/fastify/'))).toBe(true);
    const loaded = NOT_NEEDED.filter((name) => modules.some((url) => url.includes(`/node_modules/${name}`)));
    expect(loaded).toEqual([]);
  });
});
