import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addFilesToDashboard } from '../helpers/chromium.js';
import { type DemoInBrowser, startDemoInBrowser } from '../helpers/demo-browser.js';

/**
 * The demo page on a templated endpoint with auth (`/users/{username}/uploads`, bearer tokens,
 * `bind: { username: sub }`), in Chromium: the page shows the template readably before the field
 * is filled, and a file refused with 403 for the wrong {username} goes to the corrected URL when
 * retried. Its own server and browser: independent of test/e2e/uppy.test.ts.
 */

const TOKEN = 'alice-token-for-the-uppy-templated-test';

let demo: DemoInBrowser;

beforeAll(async () => {
  demo = await startDemoInBrowser('tusport-uppy-templated-', {
    config: [
      'server:',
      '  port: 0',
      'endpoints:',
      '  - path: /users/{username}/uploads',
      '    store: { type: disk, directory: "./store/{username}" }',
      '    auth:',
      '      type: bearer',
      `      tokens: [{ id: alice, token: ${TOKEN} }]`,
      '      bind: { username: sub }',
    ],
    prepare: (dir) => writeFile(path.join(dir, 'hello.txt'), 'hello from the templated endpoint\n'),
  });
}, 120_000);

afterAll(() => demo?.stop());

describe('Uppy demo page on a templated endpoint', () => {
  it('shows the template readably, and a retry after a 403 uploads to the URL the corrected field gives', async () => {
    const page = await demo.open();

    // Before the field is filled the header shows the template, not /users/%7Busername%7D/uploads.
    const target = page.locator('#target code');
    await expect.poll(() => target.textContent(), { timeout: 30_000 }).toBe(`${demo.server.url}/users/{username}/uploads`);

    await page.locator('input[name="username"]').fill('bob');
    await page.locator('input[name="token"]').fill(TOKEN);
    await expect.poll(() => target.textContent()).toBe(`${demo.server.url}/users/bob/uploads`);

    // alice's token on bob's URL: 403, shown in the page.
    await addFilesToDashboard(page, [path.join(demo.dir, 'hello.txt')]);
    await page.locator('.uppy-StatusBar-actionBtn--upload').click();
    await expect.poll(() => page.locator('#errors').textContent(), { timeout: 30_000 }).toContain('hello.txt: 403');

    // The user corrects the field and presses Retry: the upload goes to /users/alice/uploads.
    await page.locator('input[name="username"]').fill('alice');
    await expect.poll(() => target.textContent()).toBe(`${demo.server.url}/users/alice/uploads`);
    await page.locator('.uppy-StatusBar-actionBtn--retry').click();
    const done = page.locator('#done a');
    await done.waitFor({ timeout: 30_000 });
    expect(await done.textContent()).toMatch(new RegExp(`^${demo.server.url}/users/alice/uploads/[0-9a-f]{44}$`));
    const stored = await readdir(path.join(demo.dir, 'store', 'alice'));
    expect(stored.filter((name) => !name.endsWith('.json'))).toHaveLength(1);
    expect(await readdir(path.join(demo.dir, 'store')).then((names) => names.sort())).toEqual(['alice']);
    await page.close();
  }, 120_000);
});
