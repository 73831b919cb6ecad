import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookRequest } from '../../src/index.js';
import { allowBrowserUploads, createTestBucket, listMultipartUploads, removeTestBucket } from '../harness/ceph.js';
import { launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { until } from '../helpers/wait.js';
import { randomFile } from '../helpers/files.js';
import { tempDir } from '../helpers/server.js';
import { buildApp } from '../../src/index.js';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { ceph, MiB, objectBytes, s3Store, sha256 } from './lib.js';

/**
 * `@uppy/aws-s3` (the bundle in the `uppy` package) in headless Chromium, in Companion mode against
 * a direct endpoint: a small file by presigned POST and a 150 MiB file by multipart, straight to
 * RGW (whose bucket has the CORS rules of README "Direct to S3"). The big one loses its network
 * half-way (part PUTs fail until Uppy gives up), then is retried: Uppy lists the parts S3 has and
 * sends only the rest. The page authenticates with a cookie: Uppy's fetch sends no Authorization.
 */
const info = ceph();
const TOKEN = 'browser-token-0123456789abcdef';
const BIG = 150 * MiB;
const PART = 5 * MiB;

let bucket: string;
let server: FastifyInstance | undefined;
let url = '';
let scratch: Awaited<ReturnType<typeof tempDir>>;
let chromium: RunningChromium | undefined;
let browser: Browser;
const finished: HookRequest[] = [];

// The page: Uppy core + AwsS3, files from a plain <input> (set by path over CDP), the upload results
// collected for the test, and the one call an app adds for presigned POSTs (README).
const PAGE = `<!doctype html><meta charset="utf-8"><title>direct</title>
<input type="file" id="pick" multiple>
<script type="module">
import { Uppy, AwsS3 } from '/vendor/uppy.mjs';
const endpoint = new URL('/files', location.href).href;
const uppy = new Uppy({ autoProceed: false })
  .use(AwsS3, { companionEndpoint: endpoint, shouldUseMultipart: (file) => file.size > 100 * 2 ** 20, getChunkSize: () => ${PART} });
window.results = { success: [], errors: [], completed: [] };
uppy.on('upload-success', async (file, response) => {
  // Presigned POSTs have no completion call in Uppy: tell tusport the file is in (idempotent for multipart).
  const id = response.body.key.split('/').pop();
  const answer = await fetch(endpoint + '/s3/params/' + id + '/complete', { method: 'POST' });
  window.results.completed.push({ name: file.name, status: answer.status, body: await answer.json() });
  window.results.success.push({ name: file.name, key: response.body.key, location: response.uploadURL });
});
uppy.on('upload-error', (file, error) => window.results.errors.push({ name: file.name, message: String(error && error.message) }));
document.getElementById('pick').addEventListener('change', (event) => {
  for (const file of event.target.files) uppy.addFile({ name: file.name, type: file.type || 'application/octet-stream', data: file, source: 'input' });
});
window.startUpload = () => uppy.upload();
window.retryAll = () => uppy.retryAll();
window.ready = true;
</script>`;

async function openPage(): Promise<Page> {
  const context = browser.contexts()[0] ?? (await browser.newContext());
  await context.addCookies([{ name: 'tusport_token', value: TOKEN, url: url }]);
  const page = await context.newPage();
  await page.goto(`${url}/direct-test`);
  await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
  return page;
}

async function pick(page: Page, files: string[]): Promise<void> {
  const session = await page.context().newCDPSession(page);
  try {
    const { result } = await session.send('Runtime.evaluate', { expression: `document.getElementById('pick')` });
    await session.send('DOM.setFileInputFiles', { files, objectId: result.objectId ?? '' });
  } finally {
    await session.detach();
  }
}

type Results = { success: { name: string; key: string; location: string }[]; errors: { name: string; message: string }[]; completed: { name: string; status: number; body: { id: string; key: string } }[] };
const results = (page: Page) => page.evaluate(() => (window as unknown as { results: Results }).results);

beforeAll(async () => {
  scratch = await tempDir('tusport-direct-uppy-');
  bucket = await createTestBucket(info, 'direct-uppy');
  await allowBrowserUploads(info, bucket);
  const uppyBundle = await readFile(createRequire(import.meta.url).resolve('uppy/dist/uppy.min.mjs'));
  const app = buildApp({
    endpoints: [
      {
        path: '/files',
        store: s3Store(info, bucket, { prefix: 'uploads/' }),
        auth: { type: 'bearer', tokens: [{ id: 'browser', token: TOKEN }], tokenFrom: { cookie: 'tusport_token' } },
        direct: true,
        hooks: [{ type: 'function', handlers: { 'post-finish': async (request: HookRequest) => void finished.push(request) } }],
      },
    ],
  }, { logger: pino({ level: process.env.TUSPORT_TEST_LOG ?? 'silent' }) });
  // The test page and the Uppy bundle, same origin as tusport (the cookie reaches its routes).
  app.get('/direct-test', async (_request, reply) => reply.type('text/html').send(PAGE));
  app.get('/vendor/uppy.mjs', async (_request, reply) => reply.type('text/javascript').send(uppyBundle));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  server = app;
  chromium = await launchChromium(path.join(scratch.dir, 'profile'));
  browser = chromium.browser;
}, 180_000);

afterAll(async () => {
  try {
    await chromium?.close();
  } finally {
    await server?.close();
    await scratch?.remove();
    // 150 MiB is a lot of the shared RGW's memstore: give it back.
    if (bucket) await removeTestBucket(info, bucket);
  }
});

describe('@uppy/aws-s3 in Chromium against a direct endpoint', () => {
  it('uploads a small file (presigned POST) and a 150 MiB file (multipart, network lost and retried) straight to RGW, byte-identical', async () => {
    const small = await randomFile(scratch.dir, 'small.bin', 300 * 1024);
    const big = await randomFile(scratch.dir, 'big.bin', BIG);
    const page = await openPage();

    // Part PUTs to RGW fail from part 10 on while `offline` (a connection reset each time).
    let offline = true;
    const puts: { part: number; phase: 'offline' | 'online' }[] = [];
    await page.route(
      (url) => url.href.startsWith(info.endpoint) && url.searchParams.has('partNumber'),
      async (route) => {
        const part = Number(new URL(route.request().url()).searchParams.get('partNumber'));
        if (route.request().method() !== 'PUT') return route.continue();
        puts.push({ part, phase: offline ? 'offline' : 'online' });
        if (offline && part >= 10) return route.abort('connectionreset');
        return route.continue();
      },
    );
    await pick(page, [small.file, big.file]);
    await page.evaluate(() => (window as unknown as { startUpload: () => Promise<unknown> }).startUpload());
    await until(async () => (await results(page)).errors.length > 0, 'Uppy to give up on the big file', 240_000);
    let state = await results(page);
    expect(state.errors.map((e) => e.name)).toEqual(['big.bin']);
    expect(state.success.map((s) => s.name)).toEqual(['small.bin']);

    // Parts 1-9 are in S3, nothing after them; the upload is recorded as tusport's. (The small
    // file's marker stays open until its form expired: docs/direct-to-s3.md.)
    const open = (await listMultipartUploads(info, bucket)).filter((u) => u.Key?.startsWith('uploads/'));
    expect(open).toHaveLength(2);

    offline = false;
    await page.evaluate(() => (window as unknown as { retryAll: () => Promise<unknown> }).retryAll());
    await until(async () => (await results(page)).success.length === 2, 'the big file to finish after the retry', 300_000);
    await until(async () => (await results(page)).completed.length === 2, 'both completion calls', 60_000);
    state = await results(page);
    expect(state.errors).toHaveLength(1);
    // The retry sent only what S3 did not have: parts 1-9 were never PUT again.
    const online = puts.filter((p) => p.phase === 'online').map((p) => p.part);
    expect(Math.min(...online)).toBe(10);
    expect(new Set(online).size).toBe(BIG / PART - 9);

    for (const [name, source] of [
      ['small.bin', small],
      ['big.bin', big],
    ] as const) {
      const done = state.completed.find((c) => c.name === name);
      expect(done?.status, name).toBe(200);
      const key = `uploads/${done?.body.id}`;
      expect(done?.body.key).toBe(key);
      // What Uppy reports: the key it wrote, the staging key for a presigned POST (the page sent its id on as is).
      expect(state.success.find((s) => s.name === name)?.key).toBe(name === 'small.bin' ? `${key}.post` : key);
      expect(sha256(await objectBytes(info, bucket, key)), name).toBe(source.sha);
      const sidecar = JSON.parse((await objectBytes(info, bucket, `${key}.info`)).toString());
      expect(sidecar.tusport).toMatchObject({ owner: 'browser', direct: name === 'big.bin' ? 'multipart' : 'post', completion: 'notified' });
      expect(sidecar.size).toBe(source.data.length);
      // post-finish leaves through the durable outbox after the answer: wait for it, then count.
      await until(() => finished.some((request) => request.Event.Upload.ID === done?.body.id), `post-finish of ${name}`);
      expect(finished.filter((request) => request.Event.Upload.ID === done?.body.id)).toHaveLength(1);
    }
    // Once the small file's form expired, the sweep takes its marker; nothing is left open.
    await server?.tusport.sweep(Date.now() + 30 * 60_000);
    expect((await listMultipartUploads(info, bucket)).filter((u) => u.Key?.startsWith('uploads/'))).toEqual([]);
    await page.close();
  }, 600_000);
});
