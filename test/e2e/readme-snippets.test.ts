import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, killAll, start } from '../helpers/cli.js';
import { sha256File } from '../helpers/files.js';
import { codeBlocks, markdownFiles, ROOT } from '../helpers/markdown.js';
import { tempDir } from '../helpers/server.js';

/**
 * The docs' shell snippets (README.md and docs/*.md), run as written (bash, curl, node) against a
 * real `tusport serve` (the token one with the docs' config): the only change is the server's
 * address (the docs say http://127.0.0.1:1080). A block is found by the `<!-- tested: NAME ... -->`
 * comment before it, wherever it lives, so moving a snippet between pages keeps it tested.
 */

const run = promisify(execFile);
const README_URL = 'http://127.0.0.1:1080';

/** The code of the one block marked `<!-- tested: NAME (...) -->` in README.md or docs/. */
function snippet(name: string): string {
  const files = markdownFiles().filter((file) => !file.startsWith('examples'));
  const blocks = files.flatMap(codeBlocks).filter((b) => b.marker?.startsWith(`tested: ${name} `));
  if (blocks.length !== 1) throw new Error(`expected one block marked "tested: ${name}" in README.md and docs/, found ${blocks.length}`);
  return blocks[0]!.code;
}

let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  scratch = await tempDir('tusport-readme-');
});
afterEach(async () => {
  await killAll();
  await scratch.remove();
});

/** Run a snippet with bash (stopping at the first failure), `tusport` on PATH meaning this build. */
async function bash(code: string, serverUrl: string, cwd: string) {
  const bin = path.join(scratch.dir, 'bin');
  await mkdir(bin, { recursive: true });
  await writeFile(path.join(bin, 'tusport'), `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
  await chmod(path.join(bin, 'tusport'), 0o755);
  const script = code.replaceAll(README_URL, serverUrl);
  return run('bash', ['-eo', 'pipefail', '-c', script], { cwd, env: cleanEnv({ PATH: `${bin}:${process.env.PATH}` }), timeout: 60_000 });
}

describe('shell snippets of README.md and docs/', () => {
  it('resume by hand: create, PATCH half, HEAD for the offset, PATCH the rest', async () => {
    const server = await start(['serve', '--port', '0', '--no-demo'], scratch.dir);
    const { stdout } = await bash(snippet('resume'), server.url, scratch.dir);
    expect(stdout).toContain('the server has 500000 bytes');
    expect(stdout).toMatch(/^Upload-Offset: 1000000\r?$/im);
    expect(stdout).toMatch(/^Upload-Length: 1000000\r?$/im);
    const store = path.join(scratch.dir, 'data', 'files');
    const data = (await readdir(store)).filter((name) => !name.endsWith('.json'));
    expect(data).toHaveLength(1);
    expect(await sha256File(path.join(store, data[0]!))).toBe(await sha256File(path.join(scratch.dir, 'big.bin')));
  });

  it('checksums: a wrong one is 460 and keeps nothing, the right one 204', async () => {
    const server = await start(['serve', '--port', '0', '--no-demo'], scratch.dir);
    const { stdout } = await bash(snippet('checksum'), server.url, scratch.dir);
    expect(stdout.trim().split('\n')).toEqual(['460 ', '204 11']);
    const store = path.join(scratch.dir, 'data', 'files');
    const data = (await readdir(store)).filter((name) => !name.endsWith('.json'));
    expect(await sha256File(path.join(store, data[0]!))).toBe(createHash('sha256').update('hello world').digest('hex'));
  });

  it('test tokens: a JWT minted with jose and a signed token from `tusport token` open their endpoints (bind refuses the wrong user)', async () => {
    await writeFile(path.join(scratch.dir, 'tusport.yaml'), snippet('auth-config'));
    const server = await start(['serve', '--config', 'tusport.yaml', '--port', '0'], scratch.dir);
    // In the repository's directory, where `import 'jose'` resolves, as the README says.
    const { stdout } = await bash(snippet('tokens'), server.url, ROOT);
    expect(stdout.trim().split('\n')).toEqual(['201', '403', '201']);
    expect(await readdir(path.join(scratch.dir, 'data', 'users', 'alice'))).toHaveLength(2);
    expect(await readdir(path.join(scratch.dir, 'data', 'signed', 'alice'))).toHaveLength(2);
  });

  it('form uploads and the files API: upload with curl -F, list, download, delete', async () => {
    await writeFile(path.join(scratch.dir, 'tusport.yaml'), snippet('forms-config'));
    const server = await start(['serve', '--config', 'tusport.yaml', '--port', '0'], scratch.dir);
    const { stdout } = await bash(snippet('forms'), server.url, scratch.dir);
    const [listing, status] = stdout.trim().split('\n');
    const page = JSON.parse(listing ?? '') as { uploads: { filename: string; metadata: Record<string, string> }[]; next: string | null };
    expect(page.uploads.map((u) => [u.filename, u.metadata.album])).toEqual([['hello.txt', 'holidays']]);
    expect(page.next).toBeNull();
    expect(status).toBe('204');
    // Deleted: the store holds nothing of it any more.
    expect(await readdir(path.join(scratch.dir, 'data', 'files'))).toEqual([]);
  });
});
