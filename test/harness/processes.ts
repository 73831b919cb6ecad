import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Start a long-running daemon whose output goes to `logFile` (appended), never to the test
 * output. The process is unref'd and its stdio is a file rather than a pipe, so the process that
 * spawned it (globalSetup, or a test worker restarting radosgw) can exit without taking it down
 * or making it die of SIGPIPE. It is NOT put in a new process group: a Ctrl-C or a kill of the
 * whole vitest process group also ends the daemons. Its pid goes to `pidFile` at once, so any
 * process can find and stop it later (Ceph daemons in the foreground do not all write theirs:
 * radosgw -f ignores `pid file`).
 */
export function spawnDaemon(argv: readonly string[], logFile: string, pidFile: string): number {
  const [command, ...args] = argv;
  if (!command) throw new Error('spawnDaemon: empty argv');
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { stdio: ['ignore', fd, fd] });
    // Without this an unhandled 'error' (e.g. ENOENT) would crash the test process.
    child.on('error', () => {});
    child.unref();
    if (child.pid === undefined) throw new Error(`could not spawn ${command}`);
    writeFileSync(pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

/** The pid in a pid file, or undefined when the file is missing or empty. */
export function readPidFile(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a live process whose command line contains `marker` (our ceph.conf path). The
 * marker guards against stale pid files whose pid was reused by an unrelated process. A zombie
 * has an empty cmdline, so it counts as gone: daemons restarted by a test worker are reparented
 * to a pid 1 that may never reap them.
 */
export function isOurProcess(pid: number, marker: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').some((arg) => arg.includes(marker));
  } catch {
    return false;
  }
}

/**
 * Pids of the processes (other than this one) whose command line contains `marker`: finds what
 * no pid file names, e.g. a ceph CLI still waiting for a mon that is gone.
 */
export function processesMentioning(marker: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => pid !== process.pid && isOurProcess(pid, marker));
}

/** Send `signal` to those of `pids` whose cmdline contains `marker`; returns them. */
export function signalOurs(pids: Iterable<number>, marker: string, signal: NodeJS.Signals): number[] {
  const ours = [...new Set(pids)].filter((pid) => isOurProcess(pid, marker));
  for (const pid of ours) {
    try {
      process.kill(pid, signal);
    } catch {
      // Exited between the check and the kill.
    }
  }
  return ours;
}

/**
 * SIGTERM the live ones of `pids` (those whose cmdline contains `marker`), SIGKILL whatever is
 * still there after `graceMs`, and resolve once all are gone.
 */
export async function terminate(pids: Iterable<number>, marker: string, graceMs = 5_000): Promise<void> {
  let live = signalOurs(pids, marker, 'SIGTERM');
  const killAt = Date.now() + graceMs;
  let killed = false;
  while (live.length > 0) {
    await sleep(50);
    live = live.filter((pid) => isOurProcess(pid, marker));
    if (!killed && live.length > 0 && Date.now() > killAt) {
      signalOurs(live, marker, 'SIGKILL');
      killed = true;
    }
    if (killed && Date.now() > killAt + 10_000) throw new Error(`pids ${live.join(', ')} survived SIGKILL`);
  }
}

/** The last `lines` lines of a text file, or a note that it could not be read. */
export function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (error) {
    return `(cannot read ${file}: ${(error as Error).message})`;
  }
}
