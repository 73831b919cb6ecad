import { ensureDebianPackages } from './debian.js';

/**
 * vitest globalSetup: install every Debian package the suite's services need, once, before any
 * test file runs (test files start their own instances on free loopback ports).
 */
export default function setup(): void {
  ensureDebianPackages();
}
