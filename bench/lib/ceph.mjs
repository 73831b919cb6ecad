// The test suite's single-node Ceph RGW (test/harness/ceph.ts), for the S3 scenarios. The harness
// is TypeScript; vite (installed with vitest) loads it as is with `runnerImport`, so nothing is
// re-implemented or compiled here.
//
// Ceph's mon needs the fixed port 6789, which the test suite's S3 tests use too: `withCeph` waits
// until no ceph-mon runs and the port is free, starts ONE cluster, runs `fn`, and stops the cluster
// in a `finally` and on SIGINT/SIGTERM (the harness itself kills its daemons on process exit).
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { ROOT } from './servers.mjs';

const execFileAsync = promisify(execFile);
const MON_PORT = 6789;

/** The harness module (startCeph, s3Client, createTestBucket, ...), loaded by vite. */
export async function loadHarness() {
  const { runnerImport } = await import('vite');
  const { module } = await runnerImport(path.join(ROOT, 'test', 'harness', 'ceph.ts'), { configFile: false, logLevel: 'silent' });
  return module;
}

/** Whether Ceph's daemons are installed (Debian: ceph-mon ceph-osd radosgw ceph-common). */
export async function cephInstalled() {
  for (const binary of ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool']) {
    try {
      await execFileAsync('sh', ['-c', `command -v ${binary}`]);
    } catch {
      return false;
    }
  }
  return true;
}

function portInUse(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function cephMonRunning() {
  try {
    const { stdout } = await execFileAsync('pgrep', ['-f', 'ceph-mon']);
    return stdout.trim() !== '';
  } catch {
    return false; // pgrep exits 1 when nothing matches
  }
}

/** Wait (polling every 10 s) until no ceph-mon runs and port 6789 is free; false after `timeoutMs`. */
export async function waitForMonPort(timeoutMs, log) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await cephMonRunning()) && !(await portInUse(MON_PORT))) return true;
    if (Date.now() > deadline) return false;
    log(`  waiting for port ${MON_PORT}: another Ceph cluster (the test suite's?) is running`);
    await sleep(10_000);
  }
}

/**
 * Start the cluster, run `fn(cluster, harness)`, stop the cluster whatever happens (also on
 * SIGINT/SIGTERM, which would otherwise end the process without the harness's exit hook running
 * before the daemons are reaped).
 */
export async function withCeph(fn) {
  const harness = await loadHarness();
  const shared = sharedCluster();
  if (shared) return fn(shared, harness);
  const cluster = await harness.startCeph(os.tmpdir());
  const onSignal = (signal) => {
    cluster.stop().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await fn(cluster, harness);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cluster.stop();
  }
}

/**
 * The Ceph cluster the test suite already runs for everybody (TUSPORT_TEST_CEPH_INFO or BENCH_CEPH_INFO, written by
 * scripts/dev-ceph.mjs), if set: the S3 scenarios then use it as it is, never start, restart or
 * stop it (so RGW keeps beast's default Nagle setting: both variants of a scenario see the same).
 */
export function sharedCluster() {
  const file = process.env.TUSPORT_TEST_CEPH_INFO ?? process.env.BENCH_CEPH_INFO;
  if (!file) return undefined;
  const info = JSON.parse(fs.readFileSync(file, 'utf8'));
  return { info, dir: path.dirname(info.confPath), shared: true, stop: async () => {} };
}

/**
 * Restart radosgw with Nagle's algorithm off on its sockets (beast's `tcp_nodelay=1`). The
 * harness runs RGW with beast's default, where a small response body waits for the client's
 * delayed ACK: every S3 answer with a small body (GetObject of a sidecar, a short ListParts)
 * took ~48 ms instead of ~5 ms on loopback, and a tusport HEAD on S3 ~105 ms. AWS S3 has no
 * such stall; for the benchmark it would only measure Nagle. Only this cluster's ceph.conf
 * changes; the harness and the test suite keep their setting.
 */
export async function rgwNoDelay(cluster, harness) {
  if (cluster.shared) return;
  const { confPath } = cluster.info;
  const conf = fs.readFileSync(confPath, 'utf8');
  const changed = conf.replace(/^(rgw frontends = beast endpoint=\S+)$/m, '$1 tcp_nodelay=1');
  if (changed === conf) throw new Error(`no "rgw frontends = beast endpoint=..." line in ${confPath}`);
  fs.writeFileSync(confPath, changed);
  await harness.stopRadosgw(cluster.info);
  await harness.startRadosgw(cluster.info);
}

/** Pids of the cluster's radosgw and OSD (from the harness's pid files), for their CPU time. */
export function storagePids(cluster) {
  const runDir = path.join(cluster.dir, 'run');
  return fs
    .readdirSync(runDir)
    .filter((f) => /^(client\.rgw|osd\.\d+)\.pid$/.test(f))
    .map((f) => Number.parseInt(fs.readFileSync(path.join(runDir, f), 'utf8'), 10))
    .filter((pid) => Number.isInteger(pid) && fs.existsSync(`/proc/${pid}`));
}

/** Let RGW free deleted objects' RADOS data now (its GC waits hours by default; memstore is 2 GiB). */
export async function collectGarbage(cluster) {
  await execFileAsync('radosgw-admin', ['-c', cluster.info.confPath, 'gc', 'process', '--include-all'], { timeout: 120_000 });
}
