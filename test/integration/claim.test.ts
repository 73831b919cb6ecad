import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { claimConfig, claimSuite } from '../helpers/claim-suite.js';
import { listTree } from '../helpers/files.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';

/** Upload now, claim later on disk stores (the same suite runs on S3 in test/s3/claim.test.ts). */
let server: RunningTusport;
beforeAll(async () => {
  server = await startTusport((dir) => claimConfig((name) => ({ type: 'disk', directory: path.join(dir, name) })));
});
afterAll(() => server?.close());

claimSuite({
  server: () => server,
  // Files named after the upload, and finalized files (their sidecars name the upload).
  entries: async (id) => (await listTree(server.dir)).filter((file) => file.includes(id)),
  has: (relative) => stat(path.join(server.dir, 'files', relative)).then((stats) => stats.isFile(), () => false),
});
