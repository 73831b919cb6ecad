import { spawn } from 'node:child_process';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, startRadosgw, stopRadosgw } from '../harness/ceph.js';
import { errorOf, headOffset, patch, raw, TUS } from '../helpers/http.js';
import { capturingLogger, type RunningTusport, startTusport, tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';
import { ceph, idOf, MiB, objectBytes, PART, s3FilesConfig, s3Store, sha256 } from './lib.js';

const info = ceph();
const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));

describe('S3 outage: radosgw stopped mid-upload', () => {
  let bucket: string;
  let server: RunningTusport;
  const log = capturingLogger('info');
  beforeAll(async () => {
    bucket = await createTestBucket(info, 'outage');
    server = await startTusport(s3FilesConfig(info, bucket), { logger: log.logger });
  });
  afterAll(async () => {
    // Never leave the shared cluster without its gateway, whatever happened above.
    await startRadosgw(info);
    await server?.close();
  });

  it('answers 503 with a short message, stays up, and the upload resumes byte-identical once S3 is back', async () => {
    const data = randomBytes(2 * PART + 5);
    const create = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': String(data.length) } });
    expect(create.status).toBe(201);
    const id = idOf(String(create.headers.location));
    expect((await patch(server.url, `/files/${id}`, 0, data.subarray(0, PART + MiB))).status).toBe(204);

    await stopRadosgw(info);
    const during = await patch(server.url, `/files/${id}`, PART + MiB, data.subarray(PART + MiB, PART + 2 * MiB));
    expect(during.status).toBe(503);
    expect(errorOf(during)).toMatchObject({ code: 'TUSPORT_ERR_STORAGE', message: expect.stringMatching(/retry later/) });
    const head = await raw(server.url, { method: 'HEAD', path: `/files/${id}`, headers: TUS });
    expect(head.status).toBe(503);
    const create2 = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
    expect(create2.status).toBe(503);
    // tusport itself is fine, and the log says what is wrong.
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
    expect(log.text()).toMatch(/S3 unreachable/);

    await startRadosgw(info);
    // What was acknowledged before the outage is all there is.
    expect(await headOffset(server.url, `/files/${id}`)).toBe(PART + MiB);
    await tusUpload(data, { endpoint: `${server.url}/files`, uploadUrl: `${server.url}/files/${id}`, chunkSize: 4 * MiB });
    expect(sha256(await objectBytes(info, bucket, id))).toBe(sha256(data));
  });
});

describe('S3 refusing: wrong credentials, missing bucket', () => {
  let dir: { dir: string; remove: () => Promise<void> };
  let bucket: string;
  beforeAll(async () => {
    dir = await tempDir();
    bucket = await createTestBucket(info, 'check');
  });
  afterAll(() => dir?.remove());

  async function serveWith(name: string, store: Record<string, unknown>, args: string[] = [], env: Record<string, string> = {}) {
    const config = { server: { port: 0 }, endpoints: [{ path: '/files', store: { ...s3Store(info, bucket), ...store } }] };
    const file = path.join(dir.dir, `${name}.json`);
    await writeFile(file, JSON.stringify(config));
    const child = spawn(process.execPath, [BIN, 'serve', '--config', file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    return { child, output: () => ({ stdout, stderr }), exit: new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code))) };
  }

  it('tusport serve exits 2 naming the cause when the credentials are wrong', async () => {
    const run = await serveWith('bad-key', { credentials: { accessKeyId: 'NOPE', secretAccessKey: 'wrong-secret' } });
    expect(await run.exit).toBe(2);
    expect(run.output().stderr).toMatch(/endpoint \/files: S3 bucket ".*" at http:\/\/127\.0\.0\.1:\d+ is not usable: S3 answered 403/);
    expect(run.output().stderr).not.toContain('wrong-secret');
  });

  it('tusport serve exits 2 naming the bucket when it does not exist', async () => {
    const run = await serveWith('no-bucket', { bucket: 'no-such-bucket-tusport' });
    expect(await run.exit).toBe(2);
    expect(run.output().stderr).toMatch(/"no-such-bucket-tusport".*(NoSuchBucket|does not exist)/);
  });

  /** The port a spawned `tusport serve` says it listens on. */
  function listeningPort(run: Awaited<ReturnType<typeof serveWith>>): Promise<number> {
    return new Promise<number>((resolve, reject) => {
        const timer = setInterval(() => {
          const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(run.output().stdout);
          if (match) {
            clearInterval(timer);
            resolve(Number(match[1]));
          }
        }, 50);
        run.child.once('exit', () => {
          clearInterval(timer);
          reject(new Error(`exited early: ${run.output().stderr}`));
        });
      });
  }

  it('credentials may come from the standard AWS environment variables instead of the config', async () => {
    // `credentials: undefined` drops the key from the JSON config: the AWS chain takes over.
    const env = { AWS_ACCESS_KEY_ID: info.accessKeyId, AWS_SECRET_ACCESS_KEY: info.secretAccessKey };
    const run = await serveWith('env-credentials', { credentials: undefined }, [], env);
    try {
      const port = await listeningPort(run);
      const data = randomBytes(777);
      const { url } = await tusUpload(data, { endpoint: `http://127.0.0.1:${port}/files` });
      expect(sha256(await objectBytes(info, bucket, idOf(url)))).toBe(sha256(data));
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });

  it('with --no-check it starts; requests then get 503 and the log names the cause', async () => {
    const run = await serveWith('no-check', { credentials: { accessKeyId: 'NOPE', secretAccessKey: 'wrong-secret' } }, ['--no-check']);
    try {
      const port = await listeningPort(run);
      const response = await raw(`http://127.0.0.1:${port}`, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
      expect(response.status).toBe(503);
      await new Promise((r) => setTimeout(r, 200));
      expect(run.output().stdout).toMatch(/S3 answered 403 InvalidAccessKeyId/);
      expect(run.output().stdout).not.toContain('wrong-secret');
    } finally {
      run.child.kill('SIGTERM');
      await run.exit;
    }
  });
});

describe('S3 that accepts connections but never answers', () => {
  let blackhole: net.Server;
  let sockets: net.Socket[] = [];
  let server: RunningTusport;
  beforeAll(async () => {
    blackhole = net.createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
    const port = (blackhole.address() as net.AddressInfo).port;
    const store = { ...s3Store(info, 'any-bucket'), endpoint: `http://127.0.0.1:${port}`, requestTimeout: '1s', maxAttempts: 1 };
    server = await startTusport({ endpoints: [{ path: '/files', store }] });
  });
  afterAll(async () => {
    await server?.close();
    for (const socket of sockets) socket.destroy();
    sockets = [];
    await new Promise((resolve) => blackhole?.close(resolve));
  });

  it('gives up after requestTimeout: the client gets 503, not a hung request', async () => {
    const response = await raw(server.url, { method: 'POST', path: '/files', headers: { ...TUS, 'Upload-Length': '10' } });
    expect(response.status).toBe(503);
    expect(sockets.length).toBeGreaterThan(0);
    expect((await raw(server.url, { method: 'GET', path: '/healthz' })).status).toBe(200);
  });
});
