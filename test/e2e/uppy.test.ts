import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';
import { addFilesToDashboard } from '../helpers/chromium.js';
import { type DemoInBrowser, startDemoInBrowser } from '../helpers/demo-browser.js';
import { holdForRestart } from '../helpers/uppy-restart.js';
import { sha256File } from '../helpers/files.js';

/**
 * The demo page in a real browser: `tusport serve --demo` (the built CLI) with an endpoint that
 * has an accept list and a 5 MiB maxChunkSize, Chromium driven by playwright-core. Uppy uploads a
 * 32 MiB file and a small one; tusport is stopped (SIGTERM) in the middle of the big one and
 * started again on the same port a few seconds later; Uppy's retries find it, resume from the
 * stored offset, and both files end up on disk byte-identical. Then a file whose bytes are not
 * accepted shows the server's 415 in the page.
 */

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const MiB = 2 ** 20;
const CHUNK = 5 * MiB;
const BIG = 32 * MiB;
const ACCEPT = ['image/*', 'text/plain', '.bin'];

let port: number;
let storeDir: string;
let demo: DemoInBrowser;
const sources: Record<'big' | 'small' | 'fake' | 'csv', string> = { big: '', small: '', fake: '', csv: '' };

/** The stored uploads, by the filename their sidecar's metadata carries. */
async function storedUploads(): Promise<Map<string, { id: string; data: string; size: number; completed: boolean }>> {
  const uploads = new Map<string, { id: string; data: string; size: number; completed: boolean }>();
  for (const name of await readdir(storeDir).catch(() => [] as string[])) {
    if (!name.endsWith('.json')) continue;
    const sidecar = JSON.parse(await readFile(path.join(storeDir, name), 'utf8'));
    const data = path.join(storeDir, sidecar.id);
    const size = (await stat(data).catch(() => undefined))?.size ?? -1;
    uploads.set(sidecar.metadata.filename, { id: sidecar.id, data, size, completed: Boolean(sidecar.tusport?.completed_at) });
  }
  return uploads;
}

async function openDemo(): Promise<Page> {
  const page = await demo.open();
  await page.setViewportSize({ width: 1024, height: 768 });
  // config.json reached the page: the endpoint and its accept list are shown.
  await expect.poll(() => page.locator('#target').textContent(), { timeout: 30_000 }).toContain(`${demo.server.url}/files`);
  return page;
}

const addFiles = addFilesToDashboard;

beforeAll(async () => {
  port = await freePort();
  // The port is fixed in the config (the CLI enables the demo with its flag): a restart comes back on it.
  demo = await startDemoInBrowser('tusport-uppy-', {
    config: [
      'server:',
      `  port: ${port}`,
      'endpoints:',
      '  - path: /files',
      '    store: { type: disk, directory: ./store }',
      '    maxChunkSize: 5MiB',
      `    policy: { accept: [${ACCEPT.map((a) => JSON.stringify(a)).join(', ')}] }`,
    ],
    prepare: async (dir) => {
      const files = path.join(dir, 'files');
      await mkdir(files);
      // A text header first, so the content sniffer never mistakes the random bytes for a known format.
      sources.big = path.join(files, 'big.bin');
      await writeFile(sources.big, Buffer.concat([Buffer.from('tusport uppy e2e\n'), randomBytes(BIG - 17)]));
      sources.small = path.join(files, 'notes.txt');
      await writeFile(sources.small, 'Small enough for one PATCH.\n'.repeat(100));
      // Declared image/png (accepted by name and type), but the bytes are a PDF.
      sources.fake = path.join(files, 'fake.png');
      await writeFile(sources.fake, '%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n');
      sources.csv = path.join(files, 'table.csv');
      await writeFile(sources.csv, 'a,b\n1,2\n');
    },
  });
  storeDir = path.join(demo.dir, 'store');
  await mkdir(ARTIFACTS, { recursive: true });
  expect(demo.server.url).toBe(`http://127.0.0.1:${port}`);
});

afterAll(() => demo?.stop());

describe('Uppy demo page in Chromium', () => {
  it('uploads two files, survives a server restart in the middle of the big one, and stores both byte-identical', async () => {
    const page = await openDemo();

    // Watch the tus traffic, and hold the big file's third PATCH (offset 10 MiB) so the server can
    // be stopped at a known point: two chunks stored, the rest still in the browser.
    const { seen, held, restart } = await holdForRestart(page, demo, (r) => r.method === 'PATCH' && r.offset !== undefined && r.offset >= 2 * CHUNK);

    await addFiles(page, [sources.big, sources.small]);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();

    await held('the third PATCH of the big file');
    const big = (await storedUploads()).get('big.bin');
    expect(big).toBeDefined();
    // Part of it is stored, not all: exactly the two acknowledged chunks.
    expect(big?.size).toBe(2 * CHUNK);
    // And Uppy shows progress somewhere between nothing and done.
    await expect
      .poll(async () => Number(await page.locator('.uppy-StatusBar-progress').getAttribute('aria-valuenow')), { timeout: 30_000 })
      .toBeGreaterThan(0);
    expect(Number(await page.locator('.uppy-StatusBar-progress').getAttribute('aria-valuenow'))).toBeLessThan(100);

    await restart();

    await page.locator('.uppy-StatusBar.is-complete').waitFor({ timeout: 180_000 });
    await expect.poll(() => page.locator('#done li').count(), { timeout: 30_000 }).toBe(2);
    expect(await page.locator('#errors li').count()).toBe(0);
    await page.screenshot({ path: path.join(ARTIFACTS, 'uppy-finished.png'), fullPage: true });

    // It resumed: no new upload was created after the restart, it asked for the offset (HEAD)
    // and continued with a PATCH from the 10 MiB already stored.
    const bigPath = `/files/${big?.id}`;
    const afterRestart = seen.filter((r) => r.phase === 'after');
    expect(seen.filter((r) => r.phase !== 'before' && r.method === 'POST')).toEqual([]);
    expect(afterRestart.some((r) => r.method === 'HEAD' && r.path === bigPath)).toBe(true);
    expect(afterRestart.find((r) => r.method === 'PATCH' && r.path === bigPath)?.offset).toBe(2 * CHUNK);
    // Chunked as the endpoint's maxChunkSize says: 32 MiB in 5 MiB PATCHes.
    expect(seen.filter((r) => r.method === 'PATCH' && r.path === bigPath && r.phase !== 'down').length).toBeGreaterThanOrEqual(BIG / CHUNK);

    const uploads = await storedUploads();
    expect([...uploads.keys()].sort()).toEqual(['big.bin', 'notes.txt']);
    for (const [name, source] of [
      ['big.bin', sources.big],
      ['notes.txt', sources.small],
    ] as const) {
      const stored = uploads.get(name);
      expect(stored?.completed, name).toBe(true);
      expect(await sha256File(stored?.data ?? ''), name).toBe(await sha256File(source));
    }
    await page.close();
  }, 300_000);

  it('shows why a file is refused: the accept list before upload, the server\'s 415 for bytes that are not accepted', async () => {
    const storedBefore = [...(await storedUploads()).keys()].sort();
    const page = await openDemo();

    // Uppy checks the endpoint's accept list (from config.json) before sending anything.
    await addFiles(page, [sources.csv]);
    await expect.poll(() => page.locator('#errors').textContent(), { timeout: 30_000 }).toContain(`table.csv: You can only upload: ${ACCEPT.join(', ')}`);

    // A .png that is really a PDF passes both Uppy and tusport's creation check; the server
    // sniffs the bytes when the last one arrives, answers 415 and deletes the upload.
    await addFiles(page, [sources.fake]);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
    await page.locator('.uppy-StatusBar.is-error').waitFor({ timeout: 60_000 });
    const serverMessage = 'The uploaded bytes are application/pdf, which is not accepted here';
    await expect.poll(() => page.locator('#errors').textContent(), { timeout: 30_000 }).toContain(`fake.png: 415 ${serverMessage}`);
    expect(await page.locator('#errors').textContent()).toContain('TUSPORT_ERR_CONTENT_NOT_ACCEPTED');
    // Uppy's own error details for the file carry the status and the server's answer too.
    const details = await page.locator('.uppy-Dashboard-Item.is-error .uppy-Dashboard-Item-errorDetails').getAttribute('aria-label');
    expect(details).toContain('response code: 415');
    expect(details).toContain(serverMessage);
    expect(await page.locator('.uppy-StatusBar-statusPrimary').textContent()).toContain('Upload failed');

    // Nothing of either refused file is kept (whatever other uploads the store holds).
    const storedAfter = [...(await storedUploads()).keys()].sort();
    expect(storedAfter).not.toContain('fake.png');
    expect(storedAfter).toEqual(storedBefore);
    await page.close();
  }, 120_000);
});
