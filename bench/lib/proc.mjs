// Process helpers for the benchmark runner: start servers as separate processes, wait until
// they answer, read their CPU time and peak RSS from /proc, run client processes.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const CLOCK_TICKS = 100; // USER_HZ on Linux
let started = 0;

/** A free loopback port (a tiny race between close and reuse is acceptable here). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** GET `url` until anything answers (any status), or fail after `timeoutMs`. */
export async function waitForHttp(url, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const req = http.get(url, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * Start a server process. Its stdout/stderr go to a log file (its last 64 KiB are read for error
 * reports), as an operator's would: read through a pipe, tusport's request lines at the default
 * level (info) cost this runner's process CPU on the same two cores as the server and client.
 * Returns { pid, child, url, stop(), output() }.
 */
export async function startServer({ name, command, args, env = {}, readyUrl, baseUrl, cwd }) {
  const logFile = path.join(os.tmpdir(), `tusport-bench-${name}-${process.pid}-${++started}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const tail = () => {
    try {
      const text = readFileSync(logFile);
      return text.subarray(Math.max(0, text.length - 65536)).toString();
    } catch {
      return '';
    }
  };
  let exited = null;
  const exit = new Promise((resolve) => child.once('exit', (code, signal) => resolve((exited = { code, signal }))));
  try {
    await Promise.race([
      waitForHttp(readyUrl),
      exit.then((e) => {
        throw new Error(`${name} exited before it was ready (${JSON.stringify(e)}):\n${tail()}`);
      }),
    ]);
  } catch (error) {
    if (!exited) child.kill('SIGKILL');
    rmSync(logFile, { force: true });
    throw error;
  }
  return {
    name,
    pid: child.pid,
    url: baseUrl,
    output: tail,
    alive: () => exited === null,
    async stop() {
      if (exited) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const result = await exit;
      clearTimeout(timer);
      rmSync(logFile, { force: true });
      return result;
    },
  };
}

/** CPU seconds the process (all its threads) has used so far: { user, sys }. */
export function cpuTimes(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which is in parentheses and may contain spaces).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLOCK_TICKS, sys: Number(fields[12]) / CLOCK_TICKS };
}

/** CPU seconds (user + system) the process has used so far. */
export function cpuSeconds(pid) {
  const { user, sys } = cpuTimes(pid);
  return user + sys;
}

/** Reset the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0, needs permission). */
export function resetPeakRss(pid) {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Peak and current RSS in bytes, from /proc/<pid>/status. */
export function memory(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { peakRss: kb('VmHWM'), rss: kb('VmRSS') };
}

/**
 * Run a command to completion; resolves { code, stdout, stderr, wallMs }. Rejects on a non-zero
 * exit unless `allowFailure`.
 */
export function run(command, args, { env = {}, cwd, allowFailure = false, timeoutMs = 20 * 60 * 1000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(command, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const result = { code, signal, stdout, stderr, wallMs: performance.now() - started };
      if ((code !== 0 || signal) && !allowFailure) {
        reject(new Error(`${command} ${args.join(' ')} failed (${code ?? signal}):\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`));
      } else resolve(result);
    });
  });
}

/** Run a node client script that prints one JSON object as its last stdout line. */
export async function runNodeClient(script, args, options) {
  const result = await run(process.execPath, [script, ...args], options);
  const last = result.stdout.trim().split('\n').pop();
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`client ${script} printed no JSON:\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`);
  }
}
