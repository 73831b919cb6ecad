import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RunningRedis {
  /** `redis://[:password@]127.0.0.1:<port>/0` */
  url: string;
  port: number;
  /** The data directory (the append-only file lives here). */
  dir: string;
  /** Stop with SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL: no shutdown, only what the append-only file already holds survives. */
  kill(): Promise<void>;
  /** Start again on the same port and data directory (after stop or kill). */
  restart(): Promise<void>;
  /** Whether the server process is running. */
  alive(): boolean;
  /** Stop and remove the data directory. */
  remove(): Promise<void>;
}

/**
 * Debian's redis-server on a free loopback port, its data in a temp dir, persisting every write
 * (`appendonly yes`, `appendfsync always`, no RDB snapshots): the settings the README asks of a
 * Redis that holds tusport's outbox. Resolves once it answers PING.
 */
export async function startRedis(options: { password?: string } = {}): Promise<RunningRedis> {
  const dir = await mkdtemp(path.join(tmpdir(), 'tusport-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let output = '';

  const launch = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'];
    if (options.password) args.push('--requirepass', options.password);
    output = '';
    const started = spawn(REDIS_SERVER, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    started.stdout?.setEncoding('utf8').on('data', (text: string) => (output += text));
    started.stderr?.setEncoding('utf8').on('data', (text: string) => (output += text));
    child = started;
    const deadline = Date.now() + 20_000;
    while (!(await ping(port, options.password))) {
      if (started.exitCode !== null || started.signalCode !== null) throw new Error(`redis-server exited (${started.exitCode ?? started.signalCode}):\n${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not answer PING on port ${port}:\n${output}`);
      await sleep(50);
    }
  };

  const end = async (signal: NodeJS.Signals) => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await exited;
  };

  await launch();
  const auth = options.password ? `:${encodeURIComponent(options.password)}@` : '';
  return {
    url: `redis://${auth}127.0.0.1:${port}/0`,
    port,
    dir,
    stop: () => end('SIGTERM'),
    kill: () => end('SIGKILL'),
    restart: async () => {
      await end('SIGTERM');
      await launch();
    },
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    remove: async () => {
      await end('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Whether a Redis on 127.0.0.1:port answers PING with PONG (speaking RESP directly). */
function ping(port: number, password: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => {
      const command = (...parts: string[]) => `*${parts.length}\r\n${parts.map((part) => `$${Buffer.byteLength(part)}\r\n${part}\r\n`).join('')}`;
      socket.write((password ? command('AUTH', password) : '') + command('PING'));
    });
    socket.setEncoding('utf8').on('data', (text: string) => {
      received += text;
      if (received.includes('+PONG')) done(true);
      else if (received.includes('-LOADING') || received.includes('-ERR') || received.includes('-NOAUTH') || received.includes('-WRONGPASS')) done(false);
    });
  });
}
