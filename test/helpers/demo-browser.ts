import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchChromium, type RunningChromium } from './chromium.js';
import { killAll, type Running, start } from './cli.js';
import { tempDir } from './server.js';

/**
 * What every Uppy test in Chromium starts with: a temp dir holding `tusport.yaml`, the real CLI
 * serving the demo page from it (`tusport serve --config tusport.yaml --demo`), and a Chromium
 * whose profile is in the same dir. `stop` closes all of it, even when one part fails.
 */
export interface DemoInBrowser {
  readonly dir: string;
  readonly configFile: string;
  /** The running server (replaced by `startServer`). */
  server: Running;
  readonly browser: Browser;
  /** Start the server (again, after a test stopped it), waiting until it serves the demo page. */
  startServer(): Promise<Running>;
  /** A new page at the demo (`query`: `?mode=form`), once Uppy's Dashboard is on it. */
  open(query?: string): Promise<Page>;
  stop(): Promise<void>;
}

export interface DemoOptions {
  /** The config file's lines (YAML). */
  config: string[];
  /** Runs in the temp dir before the server starts (source files for the browser to upload). */
  prepare?: (dir: string) => Promise<void>;
}

export async function startDemoInBrowser(prefix: string, options: DemoOptions): Promise<DemoInBrowser> {
  const scratch = await tempDir(prefix);
  const configFile = path.join(scratch.dir, 'tusport.yaml');
  let chromium: RunningChromium | undefined;
  const stop = async () => {
    try {
      await chromium?.close();
    } finally {
      await killAll();
      await scratch.remove();
    }
  };
  try {
    await writeFile(configFile, [...options.config, ''].join('\n'));
    await options.prepare?.(scratch.dir);
    const startServer = async () => {
      const running = await start(['serve', '--config', configFile, '--demo'], scratch.dir);
      await running.waitForLog('Uppy demo page: ');
      return running;
    };
    const server = await startServer();
    chromium = await launchChromium(path.join(scratch.dir, 'chromium-profile'));
    const browser = chromium.browser;
    const demo: DemoInBrowser = {
      dir: scratch.dir,
      configFile,
      server,
      browser,
      startServer: async () => (demo.server = await startServer()),
      async open(query = '') {
        const context = browser.contexts()[0] ?? (await browser.newContext());
        const page = await context.newPage();
        await page.goto(`${demo.server.url}/${query}`);
        await page.locator('.uppy-Dashboard').waitFor();
        return page;
      },
      stop,
    };
    return demo;
  } catch (error) {
    await stop();
    throw error;
  }
}
