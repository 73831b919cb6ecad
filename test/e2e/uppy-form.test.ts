import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFilesToDashboard } from '../helpers/chromium.js';
import { type DemoInBrowser, startDemoInBrowser } from '../helpers/demo-browser.js';
import { sha256File } from '../helpers/files.js';

/**
 * Issue 15: `@uppy/xhr-upload` in headless Chromium posting multipart forms to a tusport endpoint
 * with `form: true`, through the demo page's second mode (`/?mode=form`), with the stock
 * XHRUpload options (no getResponseData): tusport's JSON `url` becomes each file's uploadURL.
 */

const MiB = 2 ** 20;
let demo: DemoInBrowser;
let storeDir: string;
const sources: string[] = [];

beforeAll(async () => {
  demo = await startDemoInBrowser('tusport-uppy-form-', {
    config: ['server:', '  port: 0', 'endpoints:', '  - path: /files', '    store: { type: disk, directory: ./store }', '    form: true'],
    prepare: async (dir) => {
      const files = path.join(dir, 'files');
      await mkdir(files);
      // A text header first, so the content sniffer never takes the random bytes for a known format.
      sources.push(path.join(files, 'big.bin'), path.join(files, 'notes ü.txt'));
      await writeFile(sources[0]!, Buffer.concat([Buffer.from('tusport uppy form\n'), randomBytes(6 * MiB)]));
      await writeFile(sources[1]!, 'A small text file.\n'.repeat(50));
    },
  });
  storeDir = path.join(demo.dir, 'store');
});

afterAll(() => demo?.stop());

describe('Uppy XHRUpload (the demo page in form mode) in Chromium', () => {
  it('posts each file as a form; tusport stores them byte-identical and Uppy gets each upload URL', async () => {
    const page = await demo.open('?mode=form');
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') posts.push(request.headers()['content-type'] ?? '');
    });
    await expect.poll(() => page.locator('#target').textContent(), { timeout: 30_000 }).toContain('Uploading as multipart forms to');
    await addFilesToDashboard(page, sources);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
    await expect.poll(() => page.locator('#done li').count(), { timeout: 60_000 }).toBe(2);
    expect(await page.locator('#errors li').count()).toBe(0);
    // Plain multipart POSTs, no tus request at all.
    expect(posts).toHaveLength(2);
    expect(posts.every((type) => type.startsWith('multipart/form-data; boundary='))).toBe(true);

    // What Uppy was told (upload-success's uploadURL, shown as links) is where the files are.
    const links = await page.locator('#done li a').evaluateAll((anchors) => anchors.map((a) => (a as HTMLAnchorElement).href));
    const sidecars = (await readdir(storeDir)).filter((name) => name.endsWith('.json'));
    expect(sidecars).toHaveLength(2);
    for (const name of sidecars) {
      const sidecar = JSON.parse(await readFile(path.join(storeDir, name), 'utf8'));
      const source = sources.find((file) => path.basename(file) === sidecar.metadata.filename);
      expect(source, sidecar.metadata.filename).toBeDefined();
      expect(await sha256File(path.join(storeDir, sidecar.id))).toBe(await sha256File(source!));
      expect(sidecar.tusport.completed_at).toBeDefined();
      expect(links).toContain(`${demo.server.url}/files/${sidecar.id}`);
      // Uppy's own meta fields came along as form fields.
      expect(sidecar.metadata.name).toBe(sidecar.metadata.filename);
    }
    await page.close();
  });
});
