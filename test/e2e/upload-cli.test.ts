import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/index.js';
import { type Exit, killAll, launch, run, until } from '../helpers/cli.js';
import { idOf, randomFile, sha256, sha256File } from '../helpers/files.js';
import { headOffset, raw, TUS } from '../helpers/http.js';
import { filesEndpoint, type RunningTusport, startTusport, tempDir } from '../helpers/server.js';

/**
 * `tusport upload` as a user runs it (node bin/tusport.js from dist/: `npm run build` first),
 * against a real tusport on loopback. Each test checks the exit code, what was printed, and
 * what the server stored. The client's resume state lives in the test's temp dir.
 */

const TOKEN = 'alice-token-for-the-upload-cli-tests-0001';
const STACK_LINE = /^\s+at /m;

let scratch: Awaited<ReturnType<typeof tempDir>>;
let server: RunningTusport | undefined;
let stateFile: string;

beforeEach(async () => {
  scratch = await tempDir('tusport-upload-cli-');
  // In a directory that does not exist yet: the client creates it.
  stateFile = path.join(scratch.dir, 'state', 'uploads.json');
});
afterEach(async () => {
  await killAll();
  await server?.close();
  server = undefined;
  await scratch.remove();
});

const upload = (args: string[], env: Record<string, string> = {}, timeoutMs = 30_000): Promise<Exit> =>
  run(['upload', ...args], scratch.dir, { TUSPORT_CLIENT_STATE: stateFile, ...env }, timeoutMs);

/** A tusport whose /files store lives in its own temp dir. */
async function serve(extra: Record<string, unknown> = {}): Promise<RunningTusport> {
  server = await startTusport((dir) => filesEndpoint(dir, extra));
  // Made here so that reading it is strict: a wrong path fails instead of looking empty.
  await mkdir(storeDir(server), { recursive: true });
  return server;
}

const storeDir = (running: { dir: string }) => path.join(running.dir, 'files');
const storedData = (running: { dir: string }, url: string) => path.join(storeDir(running), idOf(url));
const sidecarOf = async (running: { dir: string }, url: string) => JSON.parse(await readFile(`${storedData(running, url)}.json`, 'utf8'));
const storeFiles = async (running: { dir: string }) => (await readdir(storeDir(running))).sort();

/**
 * The upload URLs the client's resume state holds. The state file must exist (the client wrote
 * it), unless `mayBeMissing`: a run that never created an upload has no state to write.
 */
async function resumeUrls({ mayBeMissing = false } = {}): Promise<string[]> {
  const text = await readFile(stateFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (mayBeMissing && error.code === 'ENOENT') return '{}';
    throw error;
  });
  return Object.values(JSON.parse(text) as Record<string, { uploadUrl: string }>).map((entry) => entry.uploadUrl);
}

/** `done <file>: <url> (...)` lines, by file. */
function doneUrls(stdout: string): Record<string, string> {
  return Object.fromEntries([...stdout.matchAll(/^done (\S+): (http:\/\/\S+) \(/gm)].map((match) => [match[1], match[2]]));
}

describe('tusport upload', () => {
  it('uploads several files, two at a time, each stored byte-identical, prints every URL and leaves no resume state', async () => {
    const tus = await serve();
    const files = [
      await randomFile(scratch.dir, 'one.bin', 700_000),
      await randomFile(scratch.dir, 'two.bin', 123_457),
      await randomFile(scratch.dir, 'three.bin', 1),
      await randomFile(scratch.dir, 'empty.bin', 0),
    ];
    const result = await upload(['one.bin', 'two.bin', 'three.bin', 'empty.bin', '--endpoint', `${tus.url}/files`, '--chunk-size', '200KB', '--parallel', '2']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const urls = doneUrls(result.stdout);
    expect(Object.keys(urls).sort()).toEqual(['empty.bin', 'one.bin', 'three.bin', 'two.bin']);
    for (const { file, sha, data } of files) {
      const name = path.basename(file);
      const url = urls[name] ?? '';
      expect(url).toMatch(new RegExp(`^${tus.url}/files/[0-9a-f]{44}$`));
      expect(result.stdout).toContain(`start ${name}: ${data.length} bytes to ${tus.url}/files`);
      expect(await sha256File(storedData(tus, url))).toBe(sha);
      expect(await headOffset(tus.url, new URL(url).pathname)).toBe(data.length);
      expect((await sidecarOf(tus, url)).metadata).toEqual({ filename: name });
    }
    // Four uploads, each a data file and a sidecar: nothing else was created.
    expect(await storeFiles(tus)).toHaveLength(8);
    expect(await resumeUrls()).toEqual([]);
  });

  it('--json prints one JSON object per line; done carries the URL, the size and, with --sha256, the digest', async () => {
    const tus = await serve();
    const { sha, data } = await randomFile(scratch.dir, 'data.bin', 400_000);
    const result = await upload(['data.bin', '--endpoint', `${tus.url}/files`, '--json', '--sha256', '--chunk-size', '100KB']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((event) => event.event).filter((name) => name !== 'progress')).toEqual(['start', 'created', 'done']);
    expect(events[0]).toEqual({ event: 'start', file: 'data.bin', size: data.length, endpoint: `${tus.url}/files` });
    const created = events.find((event) => event.event === 'created');
    const done = events.at(-1);
    expect(done).toEqual({ event: 'done', file: 'data.bin', url: created?.url, bytes: data.length, sha256: sha });
    // The first progress event always passes the once-a-second throttle.
    const progress = events.filter((event) => event.event === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(1);
    const reported = progress.map((event) => Number(event.bytes));
    for (const event of progress) expect(event).toMatchObject({ file: 'data.bin', size: data.length });
    expect(reported).toEqual([...reported].sort((a, b) => a - b));
    expect(Math.max(...reported)).toBeLessThanOrEqual(data.length);
    const url = String(done?.url);
    expect(await sha256File(storedData(tus, url))).toBe(sha);
    expect(await headOffset(tus.url, new URL(url).pathname)).toBe(data.length);
  });

  it('metadata: filename is the basename, filetype is sniffed, --metadata adds keys and overrides both', async () => {
    const tus = await serve();
    const png = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(500)]);
    await writeFile(path.join(scratch.dir, 'photo.png'), png);
    await writeFile(path.join(scratch.dir, 'notes.txt'), 'plain text has no magic number\n');

    const defaults = await upload(['photo.png', 'notes.txt', '--endpoint', `${tus.url}/files`, '--metadata', 'project=demo']);
    expect(defaults.code, defaults.stderr).toBe(0);
    const urls = doneUrls(defaults.stdout);
    expect((await sidecarOf(tus, urls['photo.png'] ?? '')).metadata).toEqual({ filename: 'photo.png', filetype: 'image/png', project: 'demo' });
    expect((await sidecarOf(tus, urls['notes.txt'] ?? '')).metadata).toEqual({ filename: 'notes.txt', project: 'demo' });

    const overridden = await upload(['photo.png', '--endpoint', `${tus.url}/files`, '-m', 'filename=cover.png', '-m', 'filetype=application/octet-stream']);
    expect(overridden.code, overridden.stderr).toBe(0);
    const url = doneUrls(overridden.stdout)['photo.png'] ?? '';
    expect((await sidecarOf(tus, url)).metadata).toEqual({ filename: 'cover.png', filetype: 'application/octet-stream' });
    expect(sha256(await readFile(storedData(tus, url)))).toBe(sha256(png));
  });

  it('--token, --token-env and --header reach the server; without credentials a 401 exits 1 with the server\'s message and stores nothing', async () => {
    const tus = await serve({ auth: { type: 'bearer', tokens: [{ id: 'alice', token: TOKEN }, { id: 'bob', token: `${TOKEN}-bob` }] } });
    await randomFile(scratch.dir, 'a.bin', 50_000);
    const endpoint = ['--endpoint', `${tus.url}/files`];

    const anonymous = await upload(['a.bin', ...endpoint]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain(`failed a.bin: POST ${tus.url}/files answered 401 TUSPORT_ERR_UNAUTHORIZED`);
    expect(anonymous.stderr).toContain('pass a valid token with --token');
    expect(anonymous.stderr).toContain('tusport upload: 1 of 1 upload failed');
    expect(anonymous.stdout).not.toContain('retry');
    expect(anonymous.stderr).not.toMatch(STACK_LINE);
    expect(await storeFiles(tus)).toEqual([]);

    const viaToken = await upload(['a.bin', ...endpoint, '--token', TOKEN]);
    expect(viaToken.code, viaToken.stderr).toBe(0);
    expect((await sidecarOf(tus, doneUrls(viaToken.stdout)['a.bin'] ?? '')).tusport.owner).toBe('alice');

    const viaEnv = await upload(['a.bin', ...endpoint, '--token-env', 'MY_UPLOAD_TOKEN'], { MY_UPLOAD_TOKEN: TOKEN });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    expect((await sidecarOf(tus, doneUrls(viaEnv.stdout)['a.bin'] ?? '')).tusport.owner).toBe('alice');

    const viaHeader = await upload(['a.bin', ...endpoint, '--header', `Authorization: Bearer ${TOKEN}-bob`, '-H', 'X-Trace: cli-test']);
    expect(viaHeader.code, viaHeader.stderr).toBe(0);
    const bobs = doneUrls(viaHeader.stdout)['a.bin'] ?? '';
    expect((await sidecarOf(tus, bobs)).tusport.owner).toBe('bob');
    expect(await storeFiles(tus)).toHaveLength(6);
  });

  it('SIGINT mid-upload aborts, exits 130 and says how to resume; the same command then resumes from the server\'s offset', async () => {
    const chunk = 128 * 1024;
    const held = 4 * chunk;
    const gated = await startGated(held);
    const { sha, data } = await randomFile(scratch.dir, 'big.bin', 16 * chunk);
    const args = ['upload', 'big.bin', '--endpoint', `${gated.url}/files`, '--chunk-size', '128KiB'];
    const env = { TUSPORT_CLIENT_STATE: stateFile };

    // The server takes four chunks, then holds the fifth PATCH: the client is mid-upload.
    const first = launch(args, scratch.dir, env);
    await gated.blocked;
    await until(() => first.output.stdout.includes('progress big.bin:'), 'a progress line');
    first.child.kill('SIGINT');
    const stopped = await first.exited;

    expect(stopped.code, stopped.stderr).toBe(130);
    const url = /^created big\.bin: (\S+)$/m.exec(stopped.stdout)?.[1] ?? '';
    expect(url).toMatch(new RegExp(`^${gated.url}/files/[0-9a-f]{44}$`));
    expect(stopped.stdout).toContain(`interrupted big.bin: ${held} of ${data.length} bytes acknowledged, ${url}`);
    expect(stopped.stderr).toContain(`tusport upload: SIGINT: stopped with 0 of 1 uploaded; to resume, run the same command again (resume state: ${stateFile})`);
    expect(stopped.stderr).not.toMatch(STACK_LINE);
    expect(await resumeUrls()).toEqual([url]);

    // What the server holds before the second run: the four acknowledged chunks.
    gated.open();
    expect(await headOffset(gated.url, new URL(url).pathname)).toBe(held);
    expect(sha256((await readFile(storedData(gated, url))).subarray(0, held))).toBe(sha256(data.subarray(0, held)));

    const resumed = await run(args, scratch.dir, env, 30_000);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toContain(`resume big.bin: from offset ${held} of ${data.length} bytes, ${url}`);
    expect(resumed.stdout).not.toContain('created');
    expect(doneUrls(resumed.stdout)).toEqual({ 'big.bin': url });
    expect(await sha256File(storedData(gated, url))).toBe(sha);
    expect(await headOffset(gated.url, new URL(url).pathname)).toBe(data.length);
    // One upload on the server, and the finished one is forgotten by the client.
    expect(await storeFiles(gated)).toEqual([idOf(url), `${idOf(url)}.json`].sort());
    expect(await resumeUrls()).toEqual([]);
  });

  it('a crash (SIGKILL) mid-upload: the state was saved when the upload was created, so the next run resumes too', async () => {
    const chunk = 64 * 1024;
    const gated = await startGated(3 * chunk);
    const { sha, data } = await randomFile(scratch.dir, 'crash.bin', 10 * chunk);
    const args = ['upload', 'crash.bin', '--endpoint', `${gated.url}/files`, '--chunk-size', String(chunk), '--json'];
    const env = { TUSPORT_CLIENT_STATE: stateFile };

    const first = launch(args, scratch.dir, env);
    await gated.blocked;
    first.child.kill('SIGKILL');
    const killed = await first.exited;
    expect(killed.signal).toBe('SIGKILL');
    const created = killed.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { event: string; url?: string })
      .find((event) => event.event === 'created');
    const url = created?.url ?? '';
    expect(await resumeUrls()).toEqual([url]);
    gated.open();
    expect(await headOffset(gated.url, new URL(url).pathname)).toBe(3 * chunk);

    const resumed = await run(args, scratch.dir, env, 30_000);
    expect(resumed.code, resumed.stderr).toBe(0);
    const events = resumed.stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.find((event) => event.event === 'resume')).toEqual({ event: 'resume', file: 'crash.bin', url, offset: 3 * chunk, size: data.length });
    expect(events.at(-1)).toEqual({ event: 'done', file: 'crash.bin', url, bytes: data.length });
    expect(await sha256File(storedData(gated, url))).toBe(sha);
    expect(await resumeUrls()).toEqual([]);
  });

  it('a stored upload the server no longer has (deleted, expired) is started over, and says so', async () => {
    const tus = await serve({ maxChunkSize: '64KiB' });
    const { sha } = await randomFile(scratch.dir, 'a.bin', 100_000);
    const endpoint = ['--endpoint', `${tus.url}/files`];
    const failed = await upload(['a.bin', ...endpoint, '--chunk-size', '1MiB']);
    expect(failed.code).toBe(1);
    const gone = /^created a\.bin: (\S+)$/m.exec(failed.stdout)?.[1] ?? '';
    expect((await raw(tus.url, { method: 'DELETE', path: new URL(gone).pathname, headers: TUS })).status).toBe(204);

    const again = await upload(['a.bin', ...endpoint, '--chunk-size', '64KiB']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain(`restart a.bin: the stored upload ${gone} is gone (404), starting a new one`);
    const url = doneUrls(again.stdout)['a.bin'] ?? '';
    expect(url).not.toBe(gone);
    expect(await sha256File(storedData(tus, url))).toBe(sha);
    expect(await storeFiles(tus)).toEqual([idOf(url), `${idOf(url)}.json`].sort());
    expect(await resumeUrls()).toEqual([]);
  });

  it('an unreachable server: the retries are reported, then "cannot reach ...: connection refused" and exit 1', async () => {
    const tus = await serve();
    const { url: base } = tus;
    await tus.app.close();
    await randomFile(scratch.dir, 'a.bin', 10_000);

    const result = await upload(['a.bin', '--endpoint', `${base}/files`, '--retry-delays', '0,100']);

    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`retry a.bin: attempt 1 of 2 in 0 ms after: cannot reach ${base}/files: connection refused`);
    expect(result.stdout).toContain(`retry a.bin: attempt 2 of 2 in 100 ms after: cannot reach ${base}/files: connection refused`);
    expect(result.stderr).toContain(`failed a.bin: cannot reach ${base}/files: connection refused`);
    expect(result.stderr).toContain('tusport upload: 1 of 1 upload failed');
    expect(result.stderr).not.toMatch(STACK_LINE);
    expect(await storeFiles(tus)).toEqual([]);
    // No upload was ever created, so there was nothing to save.
    expect(await resumeUrls({ mayBeMissing: true })).toEqual([]);
  });

  it('a chunk over the endpoint\'s maxChunkSize: 413 without retries, exit 1, the limit named; a smaller --chunk-size resumes that upload', async () => {
    const tus = await serve({ maxChunkSize: '64KiB' });
    const { sha, data } = await randomFile(scratch.dir, 'a.bin', 300_000);

    const tooBig = await upload(['a.bin', '--endpoint', `${tus.url}/files`, '--chunk-size', '1MiB']);
    expect(tooBig.code).toBe(1);
    const url = /^created a\.bin: (\S+)$/m.exec(tooBig.stdout)?.[1] ?? '';
    expect(tooBig.stderr).toContain(
      `failed a.bin: PATCH ${url} answered 413 TUSPORT_ERR_CHUNK_TOO_LARGE: Request body exceeds this endpoint's maxChunkSize of 65536 bytes; lower --chunk-size to 65536 bytes or less`,
    );
    expect(tooBig.stdout).not.toContain('retry');
    expect(tooBig.stderr).not.toMatch(STACK_LINE);
    // Created, nothing written, and still resumable.
    expect(await headOffset(tus.url, new URL(url).pathname)).toBe(0);
    expect(await resumeUrls()).toEqual([url]);

    const fits = await upload(['a.bin', '--endpoint', `${tus.url}/files`, '--chunk-size', '64KiB']);
    expect(fits.code, fits.stderr).toBe(0);
    expect(fits.stdout).toContain(`resume a.bin: from offset 0 of ${data.length} bytes, ${url}`);
    expect(doneUrls(fits.stdout)).toEqual({ 'a.bin': url });
    expect(await sha256File(storedData(tus, url))).toBe(sha);
    expect(await storeFiles(tus)).toHaveLength(2);
  });

  it('an edited file, or --no-resume, starts a new upload instead of resuming the stored one', async () => {
    const tus = await serve({ maxChunkSize: '64KiB' });
    const file = path.join(scratch.dir, 'a.bin');
    await randomFile(scratch.dir, 'a.bin', 100_000);
    const endpoint = ['--endpoint', `${tus.url}/files`];

    // A 413 leaves a created, resumable upload behind (see above).
    const failed = await upload(['a.bin', ...endpoint, '--chunk-size', '1MiB']);
    expect(failed.code).toBe(1);
    const stale = /^created a\.bin: (\S+)$/m.exec(failed.stdout)?.[1] ?? '';

    const fresh = await upload(['a.bin', ...endpoint, '--chunk-size', '64KiB', '--no-resume']);
    expect(fresh.code, fresh.stderr).toBe(0);
    const freshUrl = doneUrls(fresh.stdout)['a.bin'] ?? '';
    expect(fresh.stdout).not.toContain('resume a.bin');
    expect(freshUrl).not.toBe(stale);
    expect(await headOffset(tus.url, new URL(stale).pathname)).toBe(0);
    // --no-resume dropped the stale entry; success dropped the new one.
    expect(await resumeUrls()).toEqual([]);

    const failedAgain = await upload(['a.bin', ...endpoint, '--chunk-size', '1MiB']);
    expect(failedAgain.code).toBe(1);
    const before = /^created a\.bin: (\S+)$/m.exec(failedAgain.stdout)?.[1] ?? '';
    const edited = await readFile(file);
    edited[0] = (edited[0] ?? 0) ^ 0xff;
    await writeFile(file, Buffer.concat([edited, Buffer.from('more')]));

    const afterEdit = await upload(['a.bin', ...endpoint, '--chunk-size', '64KiB']);
    expect(afterEdit.code, afterEdit.stderr).toBe(0);
    expect(afterEdit.stdout).not.toContain('resume a.bin');
    const editedUrl = doneUrls(afterEdit.stdout)['a.bin'] ?? '';
    expect([stale, freshUrl, before]).not.toContain(editedUrl);
    expect(await sha256File(storedData(tus, editedUrl))).toBe(await sha256File(file));
    expect(await headOffset(tus.url, new URL(before).pathname)).toBe(0);
    // The entry of the file as it was stays (its fingerprint no longer matches anything).
    expect(await resumeUrls()).toEqual([before]);
  });

  it('a corrupt or unusable resume state costs resumability, not the upload: a warning, and the file is stored', async () => {
    const tus = await serve();
    const { sha } = await randomFile(scratch.dir, 'a.bin', 20_000);
    // A state file truncated mid-write (a process killed while saving) is set aside.
    await mkdir(path.dirname(stateFile), { recursive: true });
    await writeFile(stateFile, '{"tus::[\\"tusport-upload/1\\",');
    const corrupt = await upload(['a.bin', '--endpoint', `${tus.url}/files`]);
    expect(corrupt.code, corrupt.stderr).toBe(0);
    expect(corrupt.stderr).toBe(`warning: the resume state in ${stateFile} was not valid JSON; moved it to ${stateFile}.corrupt and started with none\n`);
    expect(await readFile(`${stateFile}.corrupt`, 'utf8')).toBe('{"tus::[\\"tusport-upload/1\\",');
    expect(await resumeUrls()).toEqual([]);
    expect(await sha256File(storedData(tus, doneUrls(corrupt.stdout)['a.bin'] ?? ''))).toBe(sha);

    // A state path below a regular file cannot be created at all.
    const unusable = await upload(['a.bin', '--endpoint', `${tus.url}/files`], { TUSPORT_CLIENT_STATE: path.join(scratch.dir, 'a.bin', 'uploads.json') });
    expect(unusable.code, unusable.stderr).toBe(0);
    expect(unusable.stderr).toContain(`warning: cannot read the resume state in ${path.join(scratch.dir, 'a.bin', 'uploads.json')}`);
    expect(unusable.stderr).toContain('uploads go on, but may not resume after an interruption');
    expect(await sha256File(storedData(tus, doneUrls(unusable.stdout)['a.bin'] ?? ''))).toBe(sha);
    expect(await storeFiles(tus)).toHaveLength(4);
  });

  it('usage errors exit 2 and name what was wrong; --help exits 0 and lists every option with examples; neither sends a request', async () => {
    const tus = await serve();
    await randomFile(scratch.dir, 'a.bin', 10);
    const endpoint = ['--endpoint', `${tus.url}/files`];
    const cases: { args: string[]; message: string }[] = [
      { args: [...endpoint], message: "error: missing required argument 'file'" },
      { args: ['nope.bin', ...endpoint], message: 'tusport upload: cannot read nope.bin: no such file' },
      { args: ['a.bin', 'missing/b.bin', ...endpoint], message: 'tusport upload: cannot read missing/b.bin: no such file' },
      { args: ['.', ...endpoint], message: 'tusport upload: . is not a regular file' },
      { args: ['a.bin'], message: "error: required option '-e, --endpoint <url>' not specified" },
      { args: ['a.bin', '--endpoint', 'localhost:1080/files'], message: 'tusport upload: --endpoint "localhost:1080/files": expected an http:// or https:// URL' },
      { args: ['a.bin', ...endpoint, '--chunk-size', '8XB'], message: 'tusport upload: --chunk-size "8XB": expected a byte size of at least 1, such as 8MiB' },
      { args: ['a.bin', ...endpoint, '--chunk-size', '0'], message: 'tusport upload: --chunk-size "0": expected a byte size of at least 1' },
      { args: ['a.bin', ...endpoint, '--parallel', 'two'], message: 'tusport upload: --parallel "two": expected a whole number of at least 1' },
      { args: ['a.bin', ...endpoint, '--metadata', 'novalue'], message: 'tusport upload: --metadata "novalue": expected key=value' },
      { args: ['a.bin', ...endpoint, '--header', 'X-No-Colon'], message: 'tusport upload: --header "X-No-Colon": expected "Name: value"' },
      { args: ['a.bin', ...endpoint, '--retries', '2', '--retry-delays', '0'], message: 'tusport upload: give only one of --retries and --retry-delays' },
      { args: ['a.bin', ...endpoint, '--retry-delays', '0,soon'], message: 'tusport upload: --retry-delays "0,soon": "soon" is not a delay' },
      { args: ['a.bin', ...endpoint, '--token', 't', '-H', 'Authorization: Basic x'], message: 'tusport upload: give either --token/--token-env or an Authorization --header, not both' },
      { args: ['a.bin', ...endpoint, '--token-env', 'TUSPORT_TEST_UNSET'], message: 'tusport upload: --token-env: environment variable TUSPORT_TEST_UNSET is not set' },
    ];
    for (const { args, message } of cases) {
      const result = await upload(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr, args.join(' ')).toContain(message);
      expect(result.stderr).toContain('tusport upload --help');
      expect(result.stderr).not.toMatch(STACK_LINE);
      expect(result.stdout, args.join(' ')).toBe('');
    }

    const help = await upload(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: tusport upload \[options\] <file\.\.\.>/);
    for (const flag of ['--endpoint', '--header', '--token', '--token-env', '--chunk-size', '--metadata', '--parallel', '--retries', '--retry-delays', '--json', '--sha256', '--no-resume', 'Examples:', 'TUSPORT_CLIENT_STATE', '130']) {
      expect(help.stdout, flag).toContain(flag);
    }
    expect((await upload(['--help'])).stdout).toBe(help.stdout);
    expect((await run(['--help'], scratch.dir)).stdout).toContain('upload [options] <file...>');

    expect(await storeFiles(tus)).toEqual([]);
    expect(await resumeUrls({ mayBeMissing: true })).toEqual([]);
    // About twenty processes, one after another, on a busy machine.
  }, 240_000);
});

/**
 * A tusport that holds every PATCH at or past `from` until `open()`: the client is reliably
 * mid-upload, with exactly `from` bytes acknowledged. A held PATCH never reaches tusport (the
 * gate answers it once its client is gone), so the server keeps exactly those bytes; PATCHes
 * after `open()` pass.
 */
async function startGated(from: number) {
  const owned = await tempDir();
  let open = false;
  let release!: () => void;
  const opened = new Promise<void>((resolve) => (release = resolve));
  let markBlocked!: () => void;
  const blocked = new Promise<void>((resolve) => (markBlocked = resolve));
  const app = buildApp(filesEndpoint(owned.dir), { logger: pino({ level: process.env.TUSPORT_TEST_LOG ?? 'silent' }) });
  app.addHook('onRequest', async (request, reply) => {
    if (open || request.method !== 'PATCH' || Number(request.headers['upload-offset']) < from) return;
    markBlocked();
    // Held requests never get through, not even when the gate opens: the server may not have
    // seen the aborted client's connection close yet, and must not read what is left of it.
    await Promise.race([new Promise((resolve) => request.raw.socket.once('close', resolve)), opened]);
    return reply.code(503).send();
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server = {
    app,
    url: `http://127.0.0.1:${port}`,
    dir: owned.dir,
    async close() {
      await app.close();
      await owned.remove();
    },
  };
  return {
    ...server,
    blocked,
    open() {
      open = true;
      release();
    },
  };
}
