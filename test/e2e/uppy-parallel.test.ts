import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { killAll, type Running, start } from '../helpers/cli.js';
import { addFilesToDashboard, launchChromium, type RunningChromium } from '../helpers/chromium.js';
import { sha256 } from '../helpers/files.js';
import { tempDir } from '../helpers/server.js';

/**
 * Uppy's Tus plugin with `parallelUploads: 4` in Chromium (the demo page's Uppy, its Tus options
 * set from the page as an app would set them): the file goes up as four partial uploads and one
 * final upload (concatenation), stored byte-identical, the partial uploads removed.
 */

const MiB = 2 ** 20;

let scratch: Awaited<ReturnType<typeof tempDir>>;
let server: Running;
let chromium: RunningChromium | undefined;
let data: Buffer;

beforeAll(async () => {
  scratch = await tempDir('tusport-uppy-parallel-');
  const config = path.join(scratch.dir, 'tusport.yaml');
  await writeFile(config, ['endpoints:', '  - path: /files', '    store: { type: disk, directory: ./store }', '    maxChunkSize: 1MiB', ''].join('\n'));
  data = randomBytes(6 * MiB + 3);
  await writeFile(path.join(scratch.dir, 'parallel.bin'), data);
  server = await start(['serve', '--config', config, '--port', '0', '--demo'], scratch.dir);
  chromium = await launchChromium(path.join(scratch.dir, 'chromium-profile'));
}, 120_000);

afterAll(async () => {
  try {
    await chromium?.close();
  } finally {
    await killAll();
    await scratch?.remove();
  }
});

describe('Uppy with parallelUploads', () => {
  it('uploads one file as four partial uploads and a final one, byte-identical', async () => {
    const page = await chromium!.browser.newPage();
    await page.goto(`${server.url}/`);
    await page.locator('.uppy-Dashboard').waitFor();
    await expect.poll(() => page.locator('#target').textContent(), { timeout: 30_000 }).toContain(`${server.url}/files`);
    // What an app writes in `uppy.use(Tus, { parallelUploads: 4, ... })`.
    await page.evaluate(() => {
      const uppy = (window as unknown as { uppy: { getPlugin(name: string): { setOptions(options: Record<string, unknown>): void } } }).uppy;
      uppy.getPlugin('Tus').setOptions({ parallelUploads: 4 });
    });
    await addFilesToDashboard(page, [path.join(scratch.dir, 'parallel.bin')]);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
    const done = page.locator('#done a');
    await done.waitFor({ timeout: 60_000 });
    const id = String(await done.textContent()).split('/').pop()!;
    const store = path.join(scratch.dir, 'store');
    expect(sha256(await readFile(path.join(store, id)))).toBe(sha256(data));
    expect((await readdir(store)).sort()).toEqual([id, `${id}.json`].sort());
    const sidecar = JSON.parse(await readFile(path.join(store, `${id}.json`), 'utf8'));
    expect(sidecar.tusport.concat.final).toHaveLength(4);
    expect(sidecar.metadata.filename).toBe('parallel.bin');
    await page.close();
  }, 120_000);
});
