import { afterAll, beforeAll } from 'vitest';
import { createTestBucket, listAllKeys } from '../harness/ceph.js';
import { claimConfig, claimSuite } from '../helpers/claim-suite.js';
import { type RunningTusport, startTusport } from '../helpers/server.js';
import { ceph, s3Store } from './lib.js';

/** Upload now, claim later on an S3 store (Ceph RGW): the suite of test/integration/claim.test.ts. */
const info = ceph();
let bucket: string;
let server: RunningTusport;
beforeAll(async () => {
  bucket = await createTestBucket(info, 'claim');
  server = await startTusport(claimConfig((name) => s3Store(info, bucket, { prefix: `${name}/` })));
});
afterAll(() => server?.close());

claimSuite({
  server: () => server,
  entries: async (id) => (await listAllKeys(info, bucket)).filter((key) => key.includes(id)),
  has: async (relative) => (await listAllKeys(info, bucket, `files/${relative}`)).includes(`files/${relative}`),
});
