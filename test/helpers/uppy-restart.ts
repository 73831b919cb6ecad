import type { Page, Route } from 'playwright-core';
import { expect } from 'vitest';
import type { DemoInBrowser } from './demo-browser.js';
import { until } from './wait.js';

/** Where a tus request fell: before the server was stopped, while it was down, after its restart. */
export type Phase = 'before' | 'down' | 'after';

export interface SeenRequest {
  phase: Phase;
  method: string;
  path: string;
  offset: number | undefined;
  /** The request's `Upload-Concat`, if any. */
  concat: string | undefined;
}

export interface HeldRestart {
  /** Every tus request the page sent to `/files`, in order. */
  readonly seen: SeenRequest[];
  /** Resolves once the request `hold` picked has been held (nothing past it reached the server). */
  held(what: string): Promise<void>;
  /**
   * Stop the server gracefully (SIGTERM, exit 0), let the held request meet the closed port, wait
   * until Uppy has retried while it is down (retryDelays in examples/uppy/app.js), start it again
   * on the same port.
   */
  restart(): Promise<void>;
}

/**
 * Watch the page's tus traffic and hold the first request `hold` picks, so the demo's server can be
 * stopped at a known point of an Uppy upload and started again (the restart tests of
 * test/e2e/uppy.test.ts and test/s3/uppy-parallel.test.ts).
 */
export async function holdForRestart(page: Page, demo: DemoInBrowser, hold: (request: SeenRequest) => boolean): Promise<HeldRestart> {
  let phase: Phase = 'before';
  const seen: SeenRequest[] = [];
  let held: Route | undefined;
  await page.route(
    (url) => url.pathname.startsWith('/files'),
    async (route) => {
      const request = route.request();
      const headers = request.headers();
      const offset = headers['upload-offset'] === undefined ? undefined : Number(headers['upload-offset']);
      const entry = { phase, method: request.method(), path: new URL(request.url()).pathname, offset, concat: headers['upload-concat'] };
      seen.push(entry);
      if (!held && hold(entry)) {
        held = route;
        return;
      }
      await route.continue();
    },
  );
  return {
    seen,
    held: (what) => until(() => held !== undefined, what, 120_000),
    async restart() {
      // Graceful stop: exit 0 even with the browser's keep-alive connections open.
      demo.server.child.kill('SIGTERM');
      expect((await demo.server.exited).code).toBe(0);
      phase = 'down';
      await held?.continue();
      // Restart only once Uppy has tried again against the closed port (a request seen while down).
      await until(() => seen.some((r) => r.phase === 'down'), 'Uppy to retry while the server is down', 60_000);
      phase = 'after';
      await demo.startServer();
    },
  };
}
