import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Exit, killAll, run } from '../helpers/cli.js';
import { randomFile, sha256 } from '../helpers/files.js';
import { curlForm } from '../helpers/form.js';
import { filesEndpoint, type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * `tusport files ls|get|rm <endpoint URL>` as a user runs it (node bin/tusport.js from dist/:
 * `npm run build` first) against a real tusport, with bearer tokens.
 */

const ALICE = 'alice-token-for-the-files-cli-0001';
const BOB = 'bob-token-for-the-files-cli-00002';

let scratch: Awaited<ReturnType<typeof tempDir>>;
let server: RunningTusport;

beforeEach(async () => {
  scratch = await tempDir('tusport-files-cli-');
  server = await startTusport((dir) =>
    filesEndpoint(dir, {
      form: true,
      auth: { type: 'bearer', tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] },
    }),
  );
});
afterEach(async () => {
  await killAll();
  await server.close();
  await scratch.remove();
});

const files = (args: string[], env: Record<string, string> = {}): Promise<Exit> => run(['files', ...args], scratch.dir, env, 30_000);

describe('tusport files', () => {
  it('ls lists, get downloads byte-identical, rm deletes; each user sees only their own', async () => {
    const a = await randomFile(scratch.dir, 'a.bin', 200_000);
    const b = await randomFile(scratch.dir, 'b.txt', 12);
    const posted = await curlForm(`${server.url}/files`, [`file=@${a.file}`, `other=@${b.file};type=text/plain`], { Authorization: `Bearer ${ALICE}` });
    expect(posted.status, posted.body).toBe(201);
    const ids = (JSON.parse(posted.body) as { files: { id: string }[] }).files.map((f) => f.id);

    const listed = await files(['ls', `${server.url}/files`, '--token-env', 'T', '--json', '--page-size', '1'], { T: ALICE });
    expect(listed.code, listed.stderr).toBe(0);
    const uploads = listed.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: string; filename: string; complete: boolean });
    expect(uploads.map((u) => u.filename).sort()).toEqual(['a.bin', 'b.txt']);
    expect(new Set(uploads.map((u) => u.id))).toEqual(new Set(ids));
    expect(uploads.every((u) => u.complete)).toBe(true);

    const table = await files(['ls', `${server.url}/files`, '--token', ALICE]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(new RegExp(`^${ids[0]}\\tcomplete\\t200000\\t\\S+\\ta\\.bin$`, 'm'));

    const bob = await files(['ls', `${server.url}/files`, '--token', BOB]);
    expect(bob.code).toBe(0);
    expect(bob.stdout).toBe('');

    const out = path.join(scratch.dir, 'copy.bin');
    const got = await files(['get', `${server.url}/files`, ids[0]!, '-o', out, '--token', ALICE]);
    expect(got.code, got.stderr).toBe(0);
    expect(sha256(await readFile(out))).toBe(a.sha);

    // Bob cannot fetch or delete alice's file: 404, exit 1, the server's code printed.
    const stolen = await files(['get', `${server.url}/files`, ids[0]!, '-o', path.join(scratch.dir, 'stolen'), '--token', BOB]);
    expect(stolen.code).toBe(1);
    expect(stolen.stderr).toContain('404 TUSPORT_ERR_NOT_FOUND');
    expect(await readdir(scratch.dir)).not.toContain('stolen');
    const refused = await files(['rm', `${server.url}/files`, ids[0]!, '--token', BOB]);
    expect(refused.code).toBe(1);

    const removed = await files(['rm', `${server.url}/files`, ...ids, '--token', ALICE]);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toBe(ids.map((id) => `deleted ${id}\n`).join(''));
    const after = await files(['ls', `${server.url}/files`, '--token', ALICE]);
    expect(after.stdout).toBe('');
  });

  it('usage errors exit 2; a refused token exits 1 with the server\'s code', async () => {
    const bad = await files(['ls', `${server.url}/files`, '--complete', 'maybe', '--token', ALICE]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--complete "maybe": expected true or false');
    const notUrl = await files(['ls', 'files', '--token', ALICE]);
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toContain('expected an http:// or https:// endpoint URL');
    const wrong = await files(['ls', `${server.url}/files`, '--token', 'not-a-valid-token-at-all-000']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('401 TUSPORT_ERR_UNAUTHORIZED');
  });
});
