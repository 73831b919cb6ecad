import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

/**
 * The Debian packages the suite's real services come from, keyed by the binary each provides.
 * One list so a fresh machine gets a single `apt-get install` (dpkg holds a lock: two installs at
 * once would fail).
 */
export const SERVICE_PACKAGES: Record<string, string> = {
  '/usr/bin/ceph-mon': 'ceph-mon',
  '/usr/bin/ceph-osd': 'ceph-osd',
  '/usr/bin/radosgw': 'radosgw',
  '/usr/bin/ceph': 'ceph-common',
  '/usr/bin/redis-server': 'redis-server',
  '/usr/sbin/nginx': 'nginx-light',
  '/usr/bin/chromium': 'chromium',
  // A real terminal for `tusport upload`'s progress bars (test/e2e/upload-cli-tty.test.ts).
  '/usr/bin/tmux': 'tmux',
  // A third-party tus client that sends Upload-Checksum (test/integration/checksum-tuspy.test.ts):
  // the module's directory stands for the package (a directory is "executable": searchable).
  '/usr/lib/python3/dist-packages/tusclient': 'python3-tuspy',
};

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Binaries (of `SERVICE_PACKAGES` or the given map) that are not installed. */
export function missingBinaries(packages: Record<string, string> = SERVICE_PACKAGES): string[] {
  return Object.keys(packages).filter((binary) => !executable(binary));
}

/**
 * Install the Debian packages whose binaries are missing. As root with apt-get this installs them
 * (non-interactively, services not auto-started); otherwise it throws naming what to install, so a
 * test never skips silently.
 */
export function ensureDebianPackages(packages: Record<string, string> = SERVICE_PACKAGES): void {
  const missing = missingBinaries(packages);
  if (missing.length === 0) return;
  const names = [...new Set(missing.map((binary) => packages[binary]!))];
  const isRoot = process.getuid?.() === 0;
  const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
  if (!isRoot || !hasApt) {
    throw new Error(
      `The test suite needs ${missing.join(', ')}. Install them with: sudo apt-get install -y ${names.join(' ')}`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  console.log(`[harness] installing Debian packages: ${names.join(' ')}`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  // policy-rc.d 101 keeps Debian's maintainer scripts from starting nginx/redis on their default
  // ports: the harness starts its own instances on free loopback ports.
  const policy = '/usr/sbin/policy-rc.d';
  const hadPolicy = executable(policy);
  if (!hadPolicy) execFileSync('sh', ['-c', `printf '#!/bin/sh\\nexit 101\\n' > ${policy} && chmod +x ${policy}`]);
  try {
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...names], { stdio: 'inherit', env });
  } finally {
    if (!hadPolicy) execFileSync('rm', ['-f', policy]);
  }
  const still = missingBinaries(packages);
  if (still.length > 0) throw new Error(`apt-get install ${names.join(' ')} did not provide ${still.join(', ')}`);
}
