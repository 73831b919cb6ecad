import { randomBytes } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFilesToDashboard } from '../helpers/chromium.js';
import { type DemoInBrowser, startDemoInBrowser } from '../helpers/demo-browser.js';
import { sha256 } from '../helpers/files.js';

/**
 * Uppy's Tus plugin with `parallelUploads: 4` in Chromium (the demo page's Uppy, its Tus options
 * set from the page as an app would set them): the file goes up as four partial uploads and one
 * final upload (concatenation), stored byte-identical, the partial uploads removed.
 */

const MiB = 2 ** 20;

let demo: DemoInBrowser;
let data: Buffer;

beforeAll(async () => {
  data = randomBytes(6 * MiB + 3);
  demo = await startDemoInBrowser('tusport-uppy-parallel-', {
    config: ['server:', '  port: 0', 'endpoints:', '  - path: /files', '    store: { type: disk, directory: ./store }', '    maxChunkSize: 1MiB'],
    prepare: (dir) => writeFile(path.join(dir, 'parallel.bin'), data),
  });
}, 120_000);

afterAll(() => demo?.stop());

describe('Uppy with parallelUploads', () => {
  it('uploads one file as four partial uploads and a final one, byte-identical', async () => {
    const page = await demo.open();
    await expect.poll(() => page.locator('#target').textContent(), { timeout: 30_000 }).toContain(`${demo.server.url}/files`);
    // What an app writes in `uppy.use(Tus, { parallelUploads: 4, ... })`.
    await page.evaluate(() => {
      const uppy = (window as unknown as { uppy: { getPlugin(name: string): { setOptions(options: Record<string, unknown>): void } } }).uppy;
      uppy.getPlugin('Tus').setOptions({ parallelUploads: 4 });
    });
    await addFilesToDashboard(page, [path.join(demo.dir, 'parallel.bin')]);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
    const done = page.locator('#done a');
    await done.waitFor({ timeout: 60_000 });
    const id = String(await done.textContent()).split('/').pop()!;
    const store = path.join(demo.dir, 'store');
    expect(sha256(await readFile(path.join(store, id)))).toBe(sha256(data));
    expect((await readdir(store)).sort()).toEqual([id, `${id}.json`].sort());
    const sidecar = JSON.parse(await readFile(path.join(store, `${id}.json`), 'utf8'));
    expect(sidecar.tusport.concat.final).toHaveLength(4);
    expect(sidecar.metadata.filename).toBe('parallel.bin');
    await page.close();
  }, 120_000);
});
