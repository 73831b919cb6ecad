import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, killAll, start } from '../helpers/cli.js';
import { sha256File } from '../helpers/files.js';
import { ROOT, testedSnippet } from '../helpers/markdown.js';
import { tempDir } from '../helpers/server.js';

/**
 * The docs' shell snippets (README.md and docs/*.md), run as written (bash, curl, node) against a
 * real `tusport serve` (the token one with the docs' config): the only change is the server's
 * address (the docs say http://127.0.0.1:1080). A block is found by the `<!-- tested: NAME ... -->`
 * comment before it, wherever it lives, so moving a snippet between pages keeps it tested.
 */

const run = promisify(execFile);
const README_URL = 'http://127.0.0.1:1080';

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
    const { stdout } = await bash(testedSnippet('resume'), server.url, scratch.dir);
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
    const { stdout } = await bash(testedSnippet('checksum'), server.url, scratch.dir);
    expect(stdout.trim().split('\n')).toEqual(['460 ', '204 11']);
    const store = path.join(scratch.dir, 'data', 'files');
    const data = (await readdir(store)).filter((name) => !name.endsWith('.json'));
    expect(await sha256File(path.join(store, data[0]!))).toBe(createHash('sha256').update('hello world').digest('hex'));
  });

  it('test tokens: a JWT minted with jose and a signed token from `tusport token` open their endpoints (bind refuses the wrong user)', async () => {
    await writeFile(path.join(scratch.dir, 'tusport.yaml'), testedSnippet('auth-config'));
    const server = await start(['serve', '--config', 'tusport.yaml', '--port', '0'], scratch.dir);
    // In the repository's directory, where `import 'jose'` resolves, as docs/auth.md says.
    const { stdout } = await bash(testedSnippet('tokens'), server.url, ROOT);
    expect(stdout.trim().split('\n')).toEqual(['201', '403', '201']);
    expect(await readdir(path.join(scratch.dir, 'data', 'users', 'alice'))).toHaveLength(2);
    expect(await readdir(path.join(scratch.dir, 'data', 'signed', 'alice'))).toHaveLength(2);
  });

  it('form uploads and the files API: upload with curl -F, list, download, delete', async () => {
    await writeFile(path.join(scratch.dir, 'tusport.yaml'), testedSnippet('forms-config'));
    const server = await start(['serve', '--config', 'tusport.yaml', '--port', '0'], scratch.dir);
    const { stdout } = await bash(testedSnippet('forms'), server.url, scratch.dir);
    const [listing, status] = stdout.trim().split('\n');
    const page = JSON.parse(listing ?? '') as { uploads: { filename: string; metadata: Record<string, string> }[]; next: string | null };
    expect(page.uploads.map((u) => [u.filename, u.metadata.album])).toEqual([['hello.txt', 'holidays']]);
    expect(page.next).toBeNull();
    expect(status).toBe('204');
    // Deleted: the store holds nothing of it any more.
    expect(await readdir(path.join(scratch.dir, 'data', 'files'))).toEqual([]);
  });

  it('the README\'s form endpoint takes a curl -F upload: one finished upload, the field as metadata', async () => {
    await writeFile(path.join(scratch.dir, 'tusport.yaml'), testedSnippet('form-config'));
    await writeFile(path.join(scratch.dir, 'photo.jpg'), Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(1000, 7)]));
    const server = await start(['serve', '--config', 'tusport.yaml', '--port', '0'], scratch.dir);
    const { stdout } = await bash(testedSnippet('curl-form'), server.url, scratch.dir);
    const answer = JSON.parse(stdout) as { id: string; url: string; metadata: Record<string, string> };
    expect(answer.url).toBe(`${server.url}/files/${answer.id}`);
    expect(answer.metadata).toMatchObject({ album: 'holidays', filename: 'photo.jpg' });
    const store = path.join(scratch.dir, 'data', 'files');
    expect(await sha256File(path.join(store, answer.id))).toBe(await sha256File(path.join(scratch.dir, 'photo.jpg')));
  });
});
