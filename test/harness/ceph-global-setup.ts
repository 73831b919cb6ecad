import { readFileSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { startCeph, type CephInfo } from './ceph.js';
import { waitForS3 } from './ceph-s3.js';
import { ensureDebianPackages } from './debian.js';

/**
 * vitest globalSetup of the `s3` project: one Ceph cluster for every S3 test file (starting one
 * takes seconds, and the mon can only live on port 6789). Test workers get its CephInfo through
 * `inject('ceph')`.
 *
 * With `TUSPORT_TEST_CEPH_INFO=<file>` (written by `node scripts/dev-ceph.mjs <file>`), the runs
 * use that already running cluster instead, so several developers' runs on one machine share it
 * (every test makes its own bucket). Tests that stop radosgw (s3-outage) disturb the others then.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Also run by global-setup.ts; repeated here so this file works on its own (a no-op when installed).
  ensureDebianPackages();
  const shared = process.env.TUSPORT_TEST_CEPH_INFO;
  if (shared) {
    const info = JSON.parse(readFileSync(shared, 'utf8')) as CephInfo;
    await waitForS3(info, 10_000, { logTail: () => `(shared cluster from ${shared})`, exited: () => false });
    project.provide('ceph', info);
    console.log(`[harness] using the running ceph at ${info.endpoint} (${shared})`);
    return async () => {};
  }
  const started = performance.now();
  const cluster = await startCeph();
  project.provide('ceph', cluster.info);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`[harness] ceph ready in ${seconds} s at ${cluster.info.endpoint}`);
  return () => cluster.stop();
}
