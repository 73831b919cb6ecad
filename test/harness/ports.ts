import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomInt } from 'node:crypto';

/**
 * Ports for things that must be told their port before they bind it (redis, nginx, a tusport
 * restarted on the same port, a hook receiver that comes back up). Asking the OS for a free
 * ephemeral port and closing it is a race: another test worker (or another run on this machine)
 * can be handed the same port before it is bound. So ports come from a range below Linux's
 * ephemeral range (32768-60999, never handed out for port 0), and each is claimed with an
 * exclusive file naming the claiming process; the claim lasts until that process exits, so a
 * server can stop and come back on its port without anyone taking it in between.
 */
const LOW = 20_000;
const HIGH = 32_000;
const CLAIMS = path.join(tmpdir(), 'tusport-test-ports');
const claimed = new Set<number>();
process.once('exit', () => {
  for (const port of claimed) release(port);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claim `port` for this process; a claim left by a process that is gone is taken over. */
function claim(port: number): boolean {
  const file = path.join(CLAIMS, String(port));
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      claimed.add(port);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = Number.NaN;
      try {
        owner = Number(readFileSync(file, 'utf8'));
      } catch {
        // Released in between: try again.
      }
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
      try {
        unlinkSync(file);
      } catch {
        // Another process took it over first; the next openSync decides.
      }
    }
  }
  return false;
}

function release(port: number): void {
  claimed.delete(port);
  try {
    unlinkSync(path.join(CLAIMS, String(port)));
  } catch {
    // Already gone.
  }
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 reserved for this process: free now, and handed to no other caller of
 * `freePort` (in any process) while this process lives.
 */
export async function freePort(): Promise<number> {
  mkdirSync(CLAIMS, { recursive: true });
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const port = randomInt(LOW, HIGH);
    if (claimed.has(port) || !claim(port)) continue;
    if (await canBind(port)) return port;
    // Something outside this scheme holds it: leave it alone.
    release(port);
  }
  throw new Error(`no free port in ${LOW}-${HIGH} after 500 attempts`);
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after timeoutMs. */
export async function waitForPort(port: number, timeoutMs = 30_000, what = `port ${port}`): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${what} did not open within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Whether something listens on 127.0.0.1:port right now. */
export function portInUse(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
