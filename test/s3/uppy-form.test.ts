import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestBucket, listAllKeys, listMultipartUploads, removeTestBucket } from '../harness/ceph.js';
import { addFilesToDashboard } from '../helpers/chromium.js';
import { type DemoInBrowser, startDemoInBrowser } from '../helpers/demo-browser.js';
import { sha256File } from '../helpers/files.js';
import { ceph, MiB, PART, s3Store, sha256 } from './lib.js';

/**
 * Issue 15 on S3: `@uppy/xhr-upload` in headless Chromium (the demo page in form mode, stock
 * options) posting to an S3 endpoint with `form: true`. The big file spans two multipart parts;
 * each ends as one finished upload (data object and sidecar, no multipart upload left open).
 */
const info = ceph();
let bucket: string;
let demo: DemoInBrowser;
const sources: string[] = [];

beforeAll(async () => {
  bucket = await createTestBucket(info, 'uppy-form');
  demo = await startDemoInBrowser('tusport-s3-uppy-form-', {
    config: ['server:', '  port: 0', 'endpoints:', '  - path: /files', `    store: ${JSON.stringify(s3Store(info, bucket))}`, '    form: true'],
    prepare: async (dir) => {
      const files = path.join(dir, 'files');
      await mkdir(files);
      sources.push(path.join(files, 'big.bin'), path.join(files, 'small.txt'));
      // A text header first, so the content sniffer never takes the random bytes for a known format.
      await writeFile(sources[0]!, Buffer.concat([Buffer.from('tusport uppy form on s3\n'), randomBytes(PART + MiB)]));
      await writeFile(sources[1]!, 'A small text file.\n'.repeat(20));
    },
  });
});

afterAll(async () => {
  await demo?.stop();
  if (bucket) await removeTestBucket(info, bucket);
});

describe('Uppy XHRUpload in Chromium against an S3 endpoint', () => {
  it('stores each file byte-identical as one finished upload; Uppy gets each upload URL', async () => {
    const page = await demo.open('?mode=form');
    await expect.poll(() => page.locator('#target').textContent(), { timeout: 30_000 }).toContain('Uploading as multipart forms to');
    await addFilesToDashboard(page, sources);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
    await expect.poll(() => page.locator('#done li').count(), { timeout: 60_000 }).toBe(2);
    expect(await page.locator('#errors li').count()).toBe(0);
    const links = await page.locator('#done li a').evaluateAll((anchors) => anchors.map((a) => (a as HTMLAnchorElement).href));
    await page.close();

    // What Uppy was told is where the files are: each link downloads one source, byte-identical.
    const expected = new Set(await Promise.all(sources.map((file) => sha256File(file))));
    const downloaded = new Set<string>();
    for (const link of links) {
      const response = await fetch(link);
      expect(response.status, link).toBe(200);
      downloaded.add(sha256(Buffer.from(await response.arrayBuffer())));
    }
    expect(downloaded).toEqual(expected);
    const ids = links.map((link) => new URL(link).pathname.split('/').pop()!);
    expect((await listAllKeys(info, bucket)).sort()).toEqual(ids.flatMap((id) => [id, `${id}.info`]).sort());
    expect(await listMultipartUploads(info, bucket)).toEqual([]);
  });
});
