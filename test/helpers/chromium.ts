import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Browser, chromium, type Page } from 'playwright-core';

/** Debian's Chromium, started by the test (so it can be killed by pid), driven over CDP. */

const CHROMIUM = '/usr/bin/chromium';
// From FACTS.md: headless, and nothing that phones out (pages only talk to loopback).
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export interface RunningChromium {
  browser: Browser;
  /** Close the browser, kill the process, and wait until it is gone (it writes into its profile until then). */
  close(): Promise<void>;
}

export async function launchChromium(userDataDir: string): Promise<RunningChromium> {
  const child: ChildProcess = spawn(CHROMIUM, [...CHROMIUM_FLAGS, `--user-data-dir=${userDataDir}`, '--remote-debugging-port=0', 'about:blank'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const gone = new Promise((resolve) => child.once('exit', resolve));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`Chromium did not open its DevTools endpoint:\n${stderr}`)), 60_000);
    // Keep draining stderr (a full pipe would block Chromium), remembering only the start.
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length > 100_000) return;
      stderr += text;
      const match = /DevTools listening on (ws:\/\/\S+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`Chromium exited (${code}):\n${stderr}`));
    });
  }).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw error;
  });
  const browser = await chromium.connectOverCDP(endpoint);
  return {
    browser,
    async close() {
      try {
        await Promise.race([browser.close(), sleep(10_000)]);
      } finally {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL');
          await gone;
        }
      }
    },
  };
}

/**
 * Add files through an Uppy Dashboard's hidden file input (the one without webkitdirectory), as a
 * user picking them would. By path, over CDP: Playwright's setInputFiles on a browser it did not
 * launch ships the files' bytes through the protocol, which stalls on large files.
 */
export async function addFilesToDashboard(page: Page, files: string[]): Promise<void> {
  const session = await page.context().newCDPSession(page);
  try {
    const { result } = await session.send('Runtime.evaluate', { expression: `document.querySelector('input.uppy-Dashboard-input:not([webkitdirectory])')` });
    if (!result.objectId) throw new Error('the Dashboard has no file input');
    await session.send('DOM.setFileInputFiles', { files, objectId: result.objectId });
  } finally {
    await session.detach();
  }
}
