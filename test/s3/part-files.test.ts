import { randomBytes } from 'node:crypto';
import { readdir, stat, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestBucket } from '../harness/ceph.js';
import { killAll, type Running, start, until } from '../helpers/cli.js';
import { gate } from '../helpers/gate.js';
import { createUpload, headOffset, patch } from '../helpers/http.js';
import { openPatch } from '../reliability/lib/open-patch.js';
import { type FaultProxy, s3Request, startFaultProxy } from '../helpers/s3-fault-proxy.js';
import { tempDir } from '../helpers/server.js';
import { SCRATCH_ROOT_NAME } from '../../src/stores/scratch.js';
import { ceph, MiB, PART, s3Store } from './lib.js';

/**
 * The S3 part writer buffers each part in a temp file (a StreamSplitter chunk) before it goes to
 * S3. Whatever ends a PATCH (the client goes away, S3 refuses a part or the tail, the process is
 * SIGKILLed), the chunk files of that write are removed: by the write itself, or, for a process
 * that died, by the next `tusport serve` on the host. Each server runs with a TMPDIR of its own,
 * so what is left there is this test's alone. (Before: /tmp collected 10-character-named chunk
 * files from every S3 error with a part buffered, and from every killed instance.)
 */
const info = ceph();
const SIZE = 12 * MiB;
const cleanup: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll();
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Every regular file under `dir`, with its size (directories themselves are not debris). */
async function filesUnder(dir: string): Promise<{ file: string; size: number }[]> {
  const found: { file: string; size: number }[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const size = await stat(file).then((s) => s.size, () => -1);
    if (size >= 0) found.push({ file, size });
  }
  return found;
}

interface Setup {
  url: string;
  tmp: string;
  bucket: string;
  proxy: FaultProxy;
  config: string;
  scratch: string;
  server: Running;
}

/** `tusport serve` with TMPDIR of its own, S3 through a fault proxy. */
async function serve(): Promise<Setup> {
  const bucket = await createTestBucket(info, 'partfiles');
  const proxy = await startFaultProxy(info.endpoint);
  cleanup.push(() => proxy.close());
  const scratch = await tempDir('tusport-partfiles-');
  cleanup.push(() => scratch.remove());
  const tmp = path.join(scratch.dir, 'tmp');
  await mkdir(tmp);
  const config = path.join(scratch.dir, 'tusport.json');
  const endpoint = { path: '/files', store: s3Store(info, bucket, { endpoint: proxy.url }) };
  await writeFile(config, JSON.stringify({ server: { host: '127.0.0.1', port: 0 }, endpoints: [endpoint] }));
  const server = await start(['serve', '--config', config], scratch.dir, { TMPDIR: tmp });
  return { url: server.url, tmp, bucket, proxy, config, scratch: scratch.dir, server };
}

describe('S3: chunk files of a write never outlive it', () => {
  it('an UploadPart that S3 refuses while the next part waits on disk: both chunk files go', async () => {
    const setup = await serve();
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(setup.url, '/files', { 'Upload-Length': SIZE });
    const id = uploadPath.split('/').pop()!;
    // Part 1 is held at the proxy until part 2 is whole on disk, then every attempt is cut.
    const refuse = gate();
    const arrived = gate();
    let cut!: () => void;
    const release = new Promise<void>((_resolve, reject) => (cut = () => reject(new Error('cut'))));
    release.catch(() => undefined);
    setup.proxy.rules.push({ match: s3Request.uploadPart(setup.bucket, id), action: { kind: 'hold', release }, onMatch: () => arrived.open() });
    const failing = patch(setup.url, uploadPath, 0, data);
    await arrived.promise;
    await until(async () => (await filesUnder(setup.tmp)).filter((f) => f.size === PART).length >= 2, 'the second part whole on disk', 20_000);
    refuse.open();
    cut();
    expect((await failing).status).toBe(503);
    setup.proxy.rules.length = 0;
    expect(await headOffset(setup.url, uploadPath)).toBe(0);
    expect(await filesUnder(setup.tmp)).toEqual([]);
  });

  it('a PUT of the tail that S3 refuses: its chunk file goes', async () => {
    const setup = await serve();
    const uploadPath = await createUpload(setup.url, '/files', { 'Upload-Length': SIZE });
    const id = uploadPath.split('/').pop()!;
    setup.proxy.rules.push({ match: s3Request.putObject(setup.bucket, `${id}.part`), action: { kind: 'cut' } });
    expect((await patch(setup.url, uploadPath, 0, randomBytes(2 * MiB))).status).toBe(503);
    setup.proxy.rules.length = 0;
    expect(await headOffset(setup.url, uploadPath)).toBe(0);
    expect(await filesUnder(setup.tmp)).toEqual([]);
  });

  it('a client that goes away mid-part: the chunk file it was filling goes', async () => {
    const setup = await serve();
    const uploadPath = await createUpload(setup.url, '/files', { 'Upload-Length': SIZE });
    const open = openPatch(setup.url, uploadPath, 0, SIZE);
    // 7 MiB: one part on its way to S3, the next one half on disk.
    void open.write(randomBytes(7 * MiB));
    await until(async () => (await filesUnder(setup.tmp)).some((f) => f.size > 0 && f.size < PART), 'a chunk file being filled', 20_000);
    open.destroy();
    expect((await open.response).kind).toBe('network');
    // HEAD takes the upload's lock: it answers once the aborted PATCH has let go of it.
    expect(await headOffset(setup.url, uploadPath)).toBeGreaterThanOrEqual(0);
    expect(await filesUnder(setup.tmp)).toEqual([]);
  });

  it('a SIGKILLed instance: the next `tusport serve` on the host removes its chunk files, and no live one\'s', async () => {
    const setup = await serve();
    const data = randomBytes(SIZE);
    const uploadPath = await createUpload(setup.url, '/files', { 'Upload-Length': SIZE });
    const id = uploadPath.split('/').pop()!;
    const arrived = gate();
    setup.proxy.rules.push({ match: s3Request.uploadPart(setup.bucket, id), action: { kind: 'hold', release: new Promise<void>(() => undefined) }, onMatch: () => arrived.open() });
    const dying = patch(setup.url, uploadPath, 0, data).catch((error: unknown) => error);
    await arrived.promise;
    await until(async () => (await filesUnder(setup.tmp)).length > 0, 'chunk files on disk', 20_000);
    setup.server.child.kill('SIGKILL');
    expect(await dying).toBeInstanceOf(Error);
    expect((await filesUnder(setup.tmp)).length).toBeGreaterThan(0);
    setup.proxy.rules.length = 0;
    // Another instance on this host, alive (this test's own process stands in for it), writing a part.
    const [killedDir] = await readdir(path.join(setup.tmp, SCRATCH_ROOT_NAME));
    const live = path.join(setup.tmp, SCRATCH_ROOT_NAME, killedDir!.replace(/-\d+-[0-9a-f]{8}$/, `-${process.pid}-0123abcd`));
    await mkdir(path.join(live, 'parts-x'), { recursive: true });
    await writeFile(path.join(live, 'parts-x', 'chunk-0'), 'a part on its way');

    // `tusport serve` removes them before it listens (and its first write would wait for that).
    await start(['serve', '--config', setup.config], setup.scratch, { TMPDIR: setup.tmp });
    expect(await filesUnder(setup.tmp)).toEqual([{ file: path.join(live, 'parts-x', 'chunk-0'), size: 17 }]);
  });
});
