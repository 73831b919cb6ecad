import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { idOf, randomFile, sha256File } from '../helpers/files.js';
import { headOffset } from '../helpers/http.js';
import { killAll, start } from '../helpers/cli.js';
import { tempDir } from '../helpers/server.js';

/** The examples users copy: run for real so they cannot rot. */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_CLIENT = path.join(ROOT, 'examples/node-client/upload.mjs');
const MiB = 1024 * 1024;

interface ClientRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run examples/node-client/upload.mjs; `killAfter` SIGKILLs it once its stdout matches. */
function nodeClient(args: string[], env: Record<string, string>, killAfter?: RegExp): Promise<ClientRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [NODE_CLIENT, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      if (killAfter?.test(stdout)) child.kill('SIGKILL');
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

let dir: { dir: string; remove: () => Promise<void> };
beforeAll(async () => {
  dir = await tempDir('tusport-examples-');
});
afterEach(killAll);
afterAll(() => dir?.remove());

describe('examples/node-client with examples/config/anonymous.yaml', () => {
  it('uploads, survives a SIGKILL, and resumes on the next run from the server offset', async () => {
    const cwd = path.join(dir.dir, 'anonymous');
    await mkdir(cwd, { recursive: true });
    const server = await start(['serve', '--config', path.join(ROOT, 'examples/config/anonymous.yaml'), '--port', '0'], cwd);
    const source = await randomFile(dir.dir, 'movie.bin', 6 * MiB + 123);
    const env = { UPLOAD_STATE: path.join(dir.dir, 'state.json'), CHUNK_SIZE: String(MiB) };

    const first = await nodeClient([source.file, `${server.url}/files`], env, /stored \d+/);
    expect(first.signal).toBe('SIGKILL');
    const state = JSON.parse(await readFile(env.UPLOAD_STATE, 'utf8')) as Record<string, { uploadUrl: string }>;
    const uploadUrl = Object.values(state)[0]!.uploadUrl;
    const offset = await headOffset(server.url, new URL(uploadUrl).pathname);
    expect(offset).toBeGreaterThan(0);
    expect(offset).toBeLessThan(source.data.length);

    const second = await nodeClient([source.file, `${server.url}/files`], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain(`resuming ${uploadUrl}`);
    expect(second.stdout).toContain(`done ${uploadUrl}`);
    // The second run sent only what the server did not have: its first stored offset is past it.
    const firstStored = Number(/stored (\d+)/.exec(second.stdout)?.[1]);
    expect(firstStored).toBeGreaterThan(offset);
    const id = idOf(uploadUrl);
    expect(await sha256File(path.join(cwd, 'data/files', id))).toBe(source.sha);
    // Finished: the state file forgets it, so the next run would start a new upload.
    expect(Object.keys(JSON.parse(await readFile(env.UPLOAD_STATE, 'utf8')))).toEqual([]);
  });

  it('exits 2 with usage when arguments are missing', async () => {
    const run = await nodeClient([], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('usage: node upload.mjs <file> <endpoint-url>');
  });
});

describe('examples/config/per-user.yaml with the node client', () => {
  it("alice's JWT uploads to her own URL and lands finalized in her directory; bob's URL refuses her", async () => {
    const cwd = path.join(dir.dir, 'per-user');
    await mkdir(cwd, { recursive: true });
    const secret = 'a-test-secret-that-is-long-enough-0123456789';
    const server = await start(['serve', '--config', path.join(ROOT, 'examples/config/per-user.yaml'), '--host', '127.0.0.1', '--port', '0'], cwd, {
      TUSPORT__ENDPOINTS__0__AUTH__SECRET: secret,
    });
    const token = await new SignJWT({ sub: 'alice' })
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience('uploads')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(secret));
    // Really a gzip stream, named and declared as a PDF.
    const picture = path.join(dir.dir, 'cat.pdf');
    await writeFile(picture, gzipSync(Buffer.alloc(1000, 7)));
    const env = { UPLOAD_STATE: path.join(dir.dir, 'per-user-state.json'), FILETYPE: 'application/pdf' };

    const refused = await nodeClient([picture, `${server.url}/users/bob/uploads`, token], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/403/);

    // The policy wants a PDF or an image: gzip bytes declared as a PDF pass creation and are
    // refused once their bytes are in (415, the upload deleted).
    const sniffed = await nodeClient([picture, `${server.url}/users/alice/uploads`, token], env);
    expect(sniffed.code).toBe(1);
    expect(sniffed.stderr).toMatch(/415.*TUSPORT_ERR_CONTENT_NOT_ACCEPTED/);

    const pdf = path.join(dir.dir, 'report.pdf');
    await writeFile(pdf, '%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');
    const accepted = await nodeClient([pdf, `${server.url}/users/alice/uploads`, token], env);
    expect(accepted.stderr).toBe('');
    expect(accepted.code).toBe(0);
    const id = /done http:\/\/[^/]+\/users\/alice\/uploads\/([0-9a-f]{44})/.exec(accepted.stdout)?.[1];
    expect(id).toBeDefined();
    // finalize: "{yyyy}/{mm}/{id}-{filename}" under alice's own directory.
    const now = new Date();
    const final = path.join(cwd, 'data/users/alice', String(now.getUTCFullYear()), String(now.getUTCMonth() + 1).padStart(2, '0'), `${id}-report.pdf`);
    expect(await sha256File(final)).toBe(await sha256File(pdf));
  });
});
