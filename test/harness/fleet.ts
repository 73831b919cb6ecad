import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Exit, type Running, start } from '../helpers/cli.js';
import { freePort } from './ports.js';

/** One `tusport serve` of a fleet. */
export interface FleetInstance {
  readonly index: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** The running process (replaced by `restart`); undefined while it is down. */
  readonly process: Running | undefined;
  /** Everything this instance logged, over all its runs (for failure messages and log assertions). */
  readonly log: () => string;
}

export interface Fleet {
  readonly instances: readonly FleetInstance[];
  /** The shared config file every instance runs with. */
  readonly configFile: string;
  /** Send `signal` to instance `i` (SIGKILL: waits until it is gone; SIGSTOP/SIGCONT: returns at once). */
  kill(i: number, signal?: NodeJS.Signals): Promise<void>;
  /** Start instance `i` again on its port (after a kill), waiting for readiness like `startFleet`. */
  restart(i: number): Promise<void>;
  /** SIGTERM every instance still running (SIGKILL after 10 s); a stopped (SIGSTOP) one is continued first. */
  stop(): Promise<void>;
}

export interface FleetOptions {
  /** How many `tusport serve` processes. */
  size: number;
  /** The config every instance shares (written to `<dir>/tusport.json`); its `server.port` is overridden per instance. */
  config: Record<string, unknown>;
  /** Where the config file is written, and the instances' working directory. */
  dir: string;
  /**
   * Wait until `/readyz` answers 200 (default), or only until the process listens (`false`: for a
   * fleet started while a dependency is meant to be down).
   */
  waitReady?: boolean;
  env?: Record<string, string>;
}

/**
 * N real `tusport serve --config <file>` processes (this checkout's dist/: `npm run build` first)
 * sharing one config, each on a port of its own claimed for the life of the test (so `restart`
 * comes back on it). What a load balancer in front of several instances sees.
 */
export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const configFile = path.join(options.dir, 'tusport.json');
  await writeFile(configFile, JSON.stringify(options.config, null, 2));
  const ports = await Promise.all(Array.from({ length: options.size }, () => freePort()));
  const logs = ports.map(() => '');
  const running: (Running | undefined)[] = ports.map(() => undefined);
  const stopped = new Set<number>();

  const launch = async (i: number) => {
    const port = ports[i]!;
    const process = await start(['serve', '--config', configFile, '--port', String(port)], options.dir, options.env ?? {});
    running[i] = process;
    const before = logs[i]!;
    // Keep the log of earlier runs: a test reading it after a restart sees the whole story.
    const capture = () => (logs[i] = before + process.output.stdout + process.output.stderr);
    process.child.stdout?.on('data', capture);
    process.child.stderr?.on('data', capture);
    capture();
    if (options.waitReady !== false) await waitReady(`http://127.0.0.1:${port}`, () => process.child.exitCode !== null, () => logs[i]!);
  };

  const end = async (i: number, signal: NodeJS.Signals): Promise<Exit | undefined> => {
    const process = running[i];
    if (!process) return undefined;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      if (signal === 'SIGSTOP') stopped.add(i);
      else stopped.delete(i);
      process.child.kill(signal);
      return undefined;
    }
    if (stopped.delete(i)) process.child.kill('SIGCONT');
    running[i] = undefined;
    if (process.child.exitCode !== null || process.child.signalCode !== null) return process.exited;
    process.child.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => process.child.kill('SIGKILL'), 10_000);
    try {
      return await process.exited;
    } finally {
      clearTimeout(timer);
    }
  };

  try {
    await Promise.all(ports.map((_, i) => launch(i)));
  } catch (error) {
    await Promise.all(ports.map((_, i) => end(i, 'SIGKILL')));
    throw error;
  }

  return {
    configFile,
    instances: ports.map((port, index) => ({
      index,
      port,
      url: `http://127.0.0.1:${port}`,
      get process() {
        return running[index];
      },
      log: () => logs[index]!,
    })),
    kill: async (i, signal = 'SIGKILL') => {
      await end(i, signal);
    },
    restart: async (i) => {
      await end(i, 'SIGKILL');
      await launch(i);
    },
    stop: async () => {
      await Promise.all(ports.map((_, i) => end(i, 'SIGTERM')));
    },
  };
}

/** Poll `GET /readyz` until 200 (every store, the outbox and Redis answer). */
async function waitReady(url: string, exited: () => boolean, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await fetch(`${url}/readyz`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    if (exited()) throw new Error(`tusport at ${url} exited before it was ready:\n${log()}`);
    if (Date.now() > deadline) throw new Error(`tusport at ${url} not ready after ${timeoutMs} ms (last /readyz: ${status}):\n${log()}`);
    await sleep(100);
  }
}
