import { defineConfig } from 'vitest/config';

const shared = {
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 120_000,
};

export default defineConfig({
  test: {
    // The machine has 2 cores; more workers only make real-server tests slower and flakier.
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        test: {
          ...shared,
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: ['test/s3/**', '**/node_modules/**'],
          // Installs the Debian packages of the real services (nginx, Chromium, ...) when missing.
          globalSetup: ['test/harness/global-setup.ts'],
        },
      },
      {
        test: {
          ...shared,
          name: 's3',
          include: ['test/s3/**/*.test.ts'],
          // One RGW for all S3 files, and the outage test stops it: run the files one at a time.
          fileParallelism: false,
          // One Ceph cluster (mon + memstore OSD + radosgw) for every S3 test file; started only
          // when at least one of them runs.
          globalSetup: ['test/harness/global-setup.ts', 'test/harness/ceph-global-setup.ts'],
        },
      },
    ],
  },
});
