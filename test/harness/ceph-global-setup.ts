import type { TestProject } from 'vitest/node';
import { startCeph } from './ceph.js';
import { ensureDebianPackages } from './debian.js';

/**
 * vitest globalSetup of the `s3` project: one Ceph cluster for every S3 test file (starting one
 * takes seconds, and the mon can only live on port 6789). Test workers get its CephInfo through
 * `inject('ceph')`.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // Also run by global-setup.ts; repeated here so this file works on its own (a no-op when installed).
  ensureDebianPackages();
  const started = performance.now();
  const cluster = await startCeph();
  project.provide('ceph', cluster.info);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`[harness] ceph ready in ${seconds} s at ${cluster.info.endpoint}`);
  return () => cluster.stop();
}
