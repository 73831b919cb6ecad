// One redis-server for the benchmark run (the Redis locker's variants), started on first use on a
// free loopback port, killed when the runner exits. Locks need no persistence: no RDB, no AOF.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import net from 'node:net';
import { freePort } from './proc.mjs';

let started;

/** `redis://127.0.0.1:<port>/0` of the bench's Redis (started on the first call). */
export function benchRedisUrl() {
  return (started ??= start());
}

async function start() {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tusport-bench-redis-'));
  const child = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  // Not keeping the runner alive: it exits when its work is done, and takes redis-server along.
  child.unref();
  process.once('exit', () => {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 15_000;
  while (!(await answers(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}); is the redis-server package installed?`);
    if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not come up`);
    await sleep(50);
  }
  return `redis://127.0.0.1:${port}/0`;
}

function answers(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => resolve(false));
  });
}
