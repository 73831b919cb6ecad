import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackages } from './debian.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * vitest globalSetup: install every Debian package the suite's services need, once, before any
 * test file runs (test files start their own instances on free loopback ports), and rebuild dist/
 * when any source file is newer than it: the tests that start the `tusport` command run dist/, and
 * a stale build must never be what they test. Two runs in one checkout build one at a time (flock).
 */
export default function setup(): void {
  ensureDebianPackages();
  execFileSync('flock', ['node_modules/.tusport-build.lock', process.execPath, 'scripts/build-if-needed.js'], { cwd: ROOT, stdio: 'inherit' });
}
