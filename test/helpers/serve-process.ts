import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * `tusport serve` as its own process (the built CLI: `npm run build` after changing src/), for
 * tests that must kill it, see it crash, or restart it on the same port.
 */
const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));
const LISTENING = /tusport listening on (http:\/\/[^\s"]+)/;

export interface ServeExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServeProcess {
  child: ChildProcess;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Everything the process wrote so far. */
  output: { stdout: string; stderr: string };
  /** Resolves when the process has exited, however it ended. */
  exited: Promise<ServeExit>;
  /** Whether it is still running. */
  alive(): boolean;
  /** Send `signal` and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ServeExit>;
  /** stdout's JSON log lines (pino). */
  logs(): Record<string, unknown>[];
}

const running = new Set<ServeProcess>();

/** Start `tusport serve --config <file>` in `cwd` and wait until it listens. */
export async function spawnServe(configFile: string, cwd: string, timeoutMs = 30_000): Promise<ServeProcess> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TUSPORT') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    output.stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    output.stderr += text;
  });
  const exited = new Promise<ServeExit>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  const alive = () => child.exitCode === null && child.signalCode === null;
  const process_: ServeProcess = {
    child,
    url: '',
    output,
    exited,
    alive,
    async stop(signal = 'SIGKILL') {
      if (alive()) child.kill(signal);
      return exited;
    },
    logs: () =>
      output.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
  running.add(process_);
  void exited.then(() => running.delete(process_));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const url = LISTENING.exec(output.stdout)?.[1];
    if (url) return Object.assign(process_, { url });
    if (!alive() || Date.now() > deadline) {
      await process_.stop();
      throw new Error(`tusport serve did not start (exit ${child.exitCode ?? child.signalCode})\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
    }
    await sleep(20);
  }
}

/** SIGKILL every server this file spawned and wait for them (for afterAll). */
export async function stopAllServes(): Promise<void> {
  await Promise.all([...running].map((server) => server.stop('SIGKILL')));
}
