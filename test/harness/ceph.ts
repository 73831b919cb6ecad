/**
 * A throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, radosgw) on loopback, for the S3
 * tests: the only S3 server available here that implements ListParts, which @tus/s3-store needs
 * to resume (see FACTS.md).
 *
 * Everything lives in one temp dir `<tmpdir>/tusport-ceph-XXXXXX/`: ceph.conf, the mon/OSD data,
 * `log/` (every daemon and CLI logs there, never to the test output) and `run/` with one pid file
 * per daemon (`mon.a.pid`, `osd.0.pid`, `client.rgw.pid`). The teardown stops them by those
 * files (radosgw may have been restarted by a test worker); if vitest exits early (Ctrl-C, SIGTERM,
 * a crash) a process 'exit' hook SIGKILLs them. Only if vitest itself is SIGKILLed do they keep
 * running and hold the mon port 6789; the next run then fails with a message naming them. Clean up
 * by hand with:
 *
 *   for d in /tmp/tusport-ceph-??????; do kill $(cat $d/run/*.pid); rm -rf $d; done
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, portInUse } from './ports.js';
import { isOurProcess, processesMentioning, readPidFile, signalOurs, spawnDaemon, tail, terminate } from './processes.js';
import { waitForS3 } from './ceph-s3.js';

export { allowBrowserUploads, createTestBucket, listAllKeys, listMultipartUploads, removeTestBucket, s3Client } from './ceph-s3.js';

/** What test workers need to reach (and stop/restart) the cluster's RGW; JSON-serializable. */
export interface CephInfo {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  confPath: string;
  rgwPidFile: string;
  /** argv that starts radosgw again (in the foreground: the caller decides how to detach). */
  rgwCommand: string[];
  logDir: string;
}

export interface CephCluster {
  info: CephInfo;
  /** The temp dir holding everything; removed by stop(). */
  dir: string;
  /** Kill every daemon (SIGTERM, SIGKILL after a grace period), wait for them, remove `dir`. */
  stop(): Promise<void>;
}

declare module 'vitest' {
  export interface ProvidedContext {
    ceph: CephInfo;
  }
}

/**
 * The mon must be on Ceph's default port: with the mon elsewhere, radosgw looped on
 * `get_initial_auth_request returned -13` here (FACTS.md). So only one harness cluster per machine.
 */
const MON_PORT = 6789;
const MON_ADDR = `127.0.0.1:${MON_PORT}`;
const execFileAsync = promisify(execFile);

/** Start a fresh cluster in a new temp dir under `parentDir`; resolves once RGW serves S3. */
export async function startCeph(parentDir: string = tmpdir(), memstoreBytes = 2 * 1024 ** 3): Promise<CephCluster> {
  if (await portInUse(MON_PORT)) throw new Error(await monPortTakenMessage());
  const dir = mkdtempSync(path.join(parentDir, 'tusport-ceph-'));
  const logDir = path.join(dir, 'log');
  const runDir = path.join(dir, 'run');
  for (const sub of [logDir, runDir, path.join(dir, 'rgw')]) mkdirSync(sub);
  const confPath = path.join(dir, 'ceph.conf');
  const rgwPort = await freePort();
  // A fresh fsid per cluster, so a leftover daemon of another run can never join this one.
  const fsid = randomUUID();
  writeFileSync(confPath, cephConf(dir, fsid, rgwPort, memstoreBytes));
  const info: CephInfo = {
    endpoint: `http://127.0.0.1:${rgwPort}`,
    region: 'us-east-1',
    accessKeyId: randomBytes(10).toString('hex').toUpperCase(),
    secretAccessKey: randomBytes(20).toString('hex'),
    confPath,
    rgwPidFile: path.join(runDir, 'client.rgw.pid'),
    rgwCommand: ['radosgw', '-f', '-c', confPath, '-n', 'client.rgw'],
    logDir,
  };
  const pids = (prefix = '') =>
    readdirSync(runDir)
      .filter((f) => f.startsWith(prefix) && f.endsWith('.pid'))
      .map((f) => readPidFile(path.join(runDir, f)))
      .filter((pid) => pid !== undefined);
  // vitest answers SIGINT/SIGTERM with process.exit() and skips globalSetup teardowns (also while
  // setup is still running): kill every process using our ceph.conf on 'exit', synchronously, so
  // that only a SIGKILL of vitest leaves them behind (see the top of this file for that case).
  const killOnExit = () => {
    try {
      signalOurs(processesMentioning(confPath), confPath, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch {
      // Best effort while the process exits; the mon-port check of the next run reports leftovers.
    }
  };
  process.once('exit', killOnExit);
  let stopped = false;
  const cluster: CephCluster = {
    info,
    dir,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', killOnExit);
      // Clients before servers, the mon last: a SIGTERMed OSD tells the mon it is going down and
      // waits up to 5 s for the answer, so stopping both at once cost 5 s every teardown.
      await terminate(pids('client.'), confPath);
      await terminate(pids('osd.'), confPath);
      await terminate(pids(), confPath);
      // Whatever no pid file names, e.g. a CLI of a startup that failed while it waited.
      await terminate(processesMentioning(confPath), confPath);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const daemon = (name: string, argv: string[]) =>
    spawnDaemon(argv, path.join(logDir, `${name}.stdout`), path.join(runDir, `${name}.pid`));
  const ceph = (...args: string[]) => run(['ceph', '-c', confPath, '--connect-timeout', '30', ...args]);
  try {
    const monmap = path.join(dir, 'monmap');
    await run(['monmaptool', '-c', confPath, '--create', '--add', 'a', MON_ADDR, '--fsid', fsid, monmap]);
    await run(['ceph-mon', '-c', confPath, '--mkfs', '-i', 'a', '--monmap', monmap]);
    daemon('mon.a', ['ceph-mon', '-f', '-c', confPath, '-i', 'a']);

    const osdId = (await ceph('osd', 'create')).trim();
    if (!/^\d+$/.test(osdId)) throw new Error(`ceph osd create printed ${JSON.stringify(osdId)}`);
    mkdirSync(path.join(dir, `osd.${osdId}`));
    await run(['ceph-osd', '-c', confPath, '-i', osdId, '--mkfs']);
    await ceph('osd', 'crush', 'add', `osd.${osdId}`, '1', 'root=default', 'host=localhost');
    daemon(`osd.${osdId}`, ['ceph-osd', '-f', '-c', confPath, '-i', osdId]);

    // The user goes straight into RADOS, so radosgw need not run yet. Creating it first means
    // radosgw-admin alone sets up the default zone and pools, without racing radosgw doing the same.
    await run([
      'radosgw-admin', '-c', confPath, 'user', 'create', '--uid', 'tusport', '--display-name', 'tusport',
      '--access-key', info.accessKeyId, '--secret-key', info.secretAccessKey,
    ]);
    daemon('client.rgw', info.rgwCommand);
    await waitForRgw(info, 60_000);
    return cluster;
  } catch (error) {
    await cluster.stop().catch(() => {});
    throw error;
  }
}

/**
 * Stop the cluster's radosgw (from any process, e.g. a test worker) by its pid file and resolve
 * once it has exited and its port is closed. The mon and OSD keep running, so data survives.
 * Idempotent: an already stopped radosgw is fine.
 */
export async function stopRadosgw(info: CephInfo): Promise<void> {
  const pid = readPidFile(info.rgwPidFile);
  if (pid !== undefined) await terminate([pid], info.confPath);
  // The pid may be reused by an unrelated process later: do not leave it in the file.
  rmSync(info.rgwPidFile, { force: true });
  const port = Number(new URL(info.endpoint).port);
  const deadline = Date.now() + 10_000;
  while (await portInUse(port)) {
    if (Date.now() > deadline) throw new Error(`radosgw exited but port ${port} is still open`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Start radosgw again after stopRadosgw (from any process), with the same argv, not tied to the
 * calling process (it may exit; the cluster's teardown finds radosgw by its pid file). Resolves
 * once RGW answers S3 requests. Idempotent, so an afterAll can call it whatever happened: a
 * running radosgw is only waited for, never started twice.
 */
export async function startRadosgw(info: CephInfo, timeoutMs = 60_000): Promise<void> {
  const running = readPidFile(info.rgwPidFile);
  if (running === undefined || !isOurProcess(running, info.confPath)) {
    spawnDaemon(info.rgwCommand, rgwStdout(info), info.rgwPidFile);
  }
  await waitForRgw(info, timeoutMs);
}

/** Wait until radosgw serves S3; fail at once, with its log, if it exits meanwhile. */
function waitForRgw(info: CephInfo, timeoutMs: number): Promise<void> {
  const pid = readPidFile(info.rgwPidFile);
  return waitForS3(info, timeoutMs, {
    logTail: () => rgwLogTail(info),
    exited: () => pid === undefined || !isOurProcess(pid, info.confPath),
  });
}

function rgwStdout(info: CephInfo): string {
  return path.join(info.logDir, 'client.rgw.stdout');
}

function rgwLogTail(info: CephInfo): string {
  const log = path.join(info.logDir, 'client.rgw.log');
  return `--- tail of ${log} ---\n${tail(log)}\n--- tail of ${rgwStdout(info)} ---\n${tail(rgwStdout(info), 10)}`;
}

/** Run a CLI to completion; a failure message carries its output (the CLIs log to files otherwise). */
async function run(argv: string[], timeoutMs = 60_000): Promise<string> {
  const [command, ...args] = argv;
  try {
    const { stdout } = await execFileAsync(command!, args, { timeout: timeoutMs });
    return stdout;
  } catch (error) {
    const e = error as Error & { stdout?: string; stderr?: string };
    throw new Error(`${argv.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}${e.stdout ?? ''}`);
  }
}

async function monPortTakenMessage(): Promise<string> {
  const found = await execFileAsync('pgrep', ['-a', 'ceph-mon']).then(
    ({ stdout }) => stdout.trim(),
    () => '',
  );
  return (
    `Port ${MON_PORT} on 127.0.0.1 is in use: another Ceph cluster holds it, maybe a leftover of an ` +
    `earlier test run that was killed before its teardown. ` +
    (found ? `ceph-mon processes:\n${found}\n` : 'No ceph-mon process found (something else listens there).\n') +
    `Stop leftover harness clusters with: ` +
    `for d in ${tmpdir()}/tusport-ceph-??????; do kill $(cat $d/run/*.pid); rm -rf $d; done`
  );
}

function cephConf(dir: string, fsid: string, rgwPort: number, memstoreBytes: number): string {
  return `[global]
fsid = ${fsid}
mon host = ${MON_ADDR}
mon initial members = a
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = ${memstoreBytes}
# radosgw creates 7 pools at first start, each a new osdmap epoch; the mon batches changes for 1 s
# by default, so rgw took ~9 s to come up. With 0.1 s and fewer PGs per pool it takes ~2 s.
paxos propose interval = 0.1
osd pool default pg num = 8
osd pool default pgp num = 8
run dir = ${path.join(dir, 'run')}
# The same files the harness writes at spawn (radosgw -f never writes its own); set so that no
# daemon falls back to a path under /var/run/ceph.
pid file = ${path.join(dir, 'run', '$name.pid')}
log file = ${path.join(dir, 'log', '$name.log')}
log to stderr = false
err to stderr = false

[mon.a]
mon addr = ${MON_ADDR}
mon data = ${path.join(dir, 'mon.a')}

[osd]
osd data = ${path.join(dir, 'osd.$id')}
# On boot the OSD would send crush/device-class commands to the mon; here it sometimes sent them
# before it had the monmap (fsid 0), the mon refused ('wrong fsid') and the OSD exited. The crush
# entry is added by the harness before the OSD starts, so the OSD need not touch it.
osd crush update on start = false
osd class update on start = false

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:${rgwPort}
rgw data = ${path.join(dir, 'rgw')}
`;
}
