import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

/**
 * The real `tusport` command, as a user runs it: `node bin/tusport.js` (which loads dist/, so run
 * `npm run build` after changing src/). Every process started here is tracked in `children` so a
 * test file can kill what is left in its hooks.
 */
export const BIN = fileURLToPath(new URL('../../bin/tusport.js', import.meta.url));
const LISTENING = /tusport listening on (http:\/\/[^\s"]+)/;

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Running {
  child: ChildProcess;
  url: string;
  /** Output so far (grows while the process runs). */
  output: { stdout: string; stderr: string };
  exited: Promise<Exit>;
  /** Resolves when a stdout line contains `text`. */
  waitForLog(text: string, timeoutMs?: number): Promise<void>;
}

/** tusport processes started and not yet exited. */
export const children = new Set<ChildProcess>();

/** SIGKILL every tracked process and wait until they are gone. */
export async function killAll(): Promise<void> {
  const alive = [...children];
  for (const child of alive) child.kill('SIGKILL');
  await Promise.all(alive.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('close', resolve)))));
}

/** The parent's environment without any TUSPORT settings (and without test-runner node options). */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('TUSPORT') && key !== 'NODE_OPTIONS') env[key] = value;
  }
  return { ...env, ...extra };
}

/** The `command` for `launch`/`start` that runs this checkout's bin under `ulimit -n <openFiles>` (the shell execs node: the child's pid is tusport's). */
export function underOpenFileLimit(openFiles: number): string[] {
  return ['sh', '-c', `ulimit -n ${openFiles} && exec "$0" "$@"`, process.execPath, BIN];
}

/**
 * `command` is what runs before `args`: by default this checkout's bin with the test's own node;
 * an installed package's bin, or a CMD run as another user, otherwise.
 */
export function launch(args: string[], cwd: string, env: Record<string, string> = {}, command: readonly string[] = [process.execPath, BIN]) {
  const [program = process.execPath, ...prefix] = command;
  const child = spawn(program, [...prefix, ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const output = { stdout: '', stderr: '' };
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    output.stdout += text;
  });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    output.stderr += text;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, ...output });
    });
  });
  return { child, output, exited };
}

/** Run the CLI to completion (SIGKILLed after `timeoutMs`). */
export async function run(args: string[], cwd: string, env: Record<string, string> = {}, timeoutMs = 15_000, command?: readonly string[]): Promise<Exit> {
  const { child, exited } = launch(args, cwd, env, command);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    return await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Start `tusport serve ...` and wait for its "listening" log line. */
export async function start(args: string[], cwd: string, env: Record<string, string> = {}, command?: readonly string[]): Promise<Running> {
  const { child, output, exited } = launch(args, cwd, env, command);
  const waitForLog = async (text: string, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!output.stdout.includes(text)) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`tusport exited (${child.exitCode ?? child.signalCode}) before logging "${text}"\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`no "${text}" in tusport's output after ${timeoutMs} ms\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
      await sleep(20);
    }
  };
  await waitForLog('tusport listening on http://');
  const url = LISTENING.exec(output.stdout)?.[1];
  if (!url) throw new Error(`cannot parse the listening URL from: ${output.stdout}`);
  return { child, url, output, exited, waitForLog };
}

export { until } from './wait.js';
