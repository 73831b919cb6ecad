import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFilesToDashboard } from '../helpers/chromium.js';
import { type DemoInBrowser, startDemoInBrowser } from '../helpers/demo-browser.js';
import { sha256File } from '../helpers/files.js';
import { testedSnippet } from '../helpers/markdown.js';
import { start } from '../helpers/cli.js';

/**
 * Issue 15: `@uppy/xhr-upload` in headless Chromium posting multipart forms to a tusport endpoint
 * with `form: true`, through the demo page's second mode (`/?mode=form`), with the stock
 * XHRUpload options (no getResponseData): tusport's JSON `url` becomes each file's uploadURL.
 * And the README's plain HTML form, no script at all, against the README's form endpoint.
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

describe("the README's plain HTML form in Chromium", () => {
  it('uploads the chosen files with the form field as metadata, and the browser gets the JSON answer', async () => {
    // The README's endpoint (`./data/files`, no auth) in a directory of its own, and its form as
    // written: only the action URL points at this server.
    const dir = path.join(demo.dir, 'readme');
    await mkdir(path.join(dir, 'files'), { recursive: true });
    await writeFile(path.join(dir, 'tusport.yaml'), testedSnippet('form-config'));
    const readmeServer = await start(['serve', '--config', 'tusport.yaml', '--port', '0', '--no-demo'], dir);
    const chosen = [path.join(dir, 'files', 'notes.txt'), path.join(dir, 'files', 'list ü.csv')];
    await writeFile(chosen[0]!, 'A plain text file, posted by a plain form.\n'.repeat(100));
    await writeFile(chosen[1]!, 'a,b\n1,2\n');
    const html = testedSnippet('html-form');
    expect(html).toContain('action="https://up.example.com/files"');

    const context = demo.browser.contexts()[0] ?? (await demo.browser.newContext());
    const page = await context.newPage();
    await page.setContent(html.replace('https://up.example.com/files', `${readmeServer.url}/files`));
    await page.locator('input[type=file]').setInputFiles(chosen);
    const [response] = await Promise.all([page.waitForResponse(`${readmeServer.url}/files`), page.locator('button').click()]);
    expect(response.status()).toBe(201);
    const answer = (await response.json()) as { files: { id: string; url: string; name: string; metadata: Record<string, string> }[] };
    expect(answer.files.map((f) => f.name).sort()).toEqual(['list ü.csv', 'notes.txt']);

    const store = path.join(dir, 'data', 'files');
    for (const file of answer.files) {
      expect(file.url).toBe(`${readmeServer.url}/files/${file.id}`);
      expect(file.metadata.album).toBe('holidays');
      const source = chosen.find((c) => path.basename(c) === file.name)!;
      expect(await sha256File(path.join(store, file.id))).toBe(await sha256File(source));
      const sidecar = JSON.parse(await readFile(path.join(store, `${file.id}.json`), 'utf8')) as { tusport: { completed_at?: string } };
      expect(sidecar.tusport.completed_at).toBeDefined();
    }
    expect((await readdir(store)).sort()).toEqual(answer.files.flatMap((f) => [f.id, `${f.id}.json`]).sort());
    await page.close();
  });
});
