import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';

/**
 * Temp files of a write (the S3 part writer's chunk files, staged bodies) live in a directory of
 * their own, `<tmpdir>/tusport-scratch/<host>-<pid>-<random>/<purpose>-<random>/`, removed whole when the
 * write ends, however it ends: a failure half-way (client gone, S3 refusing a part, lock lost)
 * cannot leave a chunk behind, even one the splitter opened after the failure.
 *
 * A SIGKILLed process cannot remove its own: the next tusport process on the host removes them
 * (`sweepDeadScratch`, at its first S3 store). A directory goes when
 *  - it is of this host and its pid is not running: a running process's pid cannot be dead, so
 *    several instances on one host never remove each other's (a reused pid only delays the
 *    removal until that process ends, or the age rule below);
 *  - or nothing in it changed for a day: a write touches its files continuously and none lasts a
 *    day (request timeouts end it first). This covers a tmp dir shared across hosts or PID
 *    namespaces (containers on one volume), where a pid means nothing to us; a live process's
 *    idle root removed this way is re-created by its next write.
 */
export const SCRATCH_ROOT_NAME = 'tusport-scratch';
const QUIET_FOR_MS = 24 * 60 * 60 * 1000;
const OWNER = /^(.+)-(\d+)-[0-9a-f]{8}$/;

const host = hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';
const ownName = `${host}-${process.pid}-${randomBytes(4).toString('hex')}`;

function scratchRoot(): string {
  return path.join(tmpdir(), SCRATCH_ROOT_NAME);
}

/** This process's directory (TMPDIR is read when first used, as os.tmpdir() does). */
export function ownScratchDirectory(): string {
  return path.join(scratchRoot(), ownName);
}

let swept: Promise<void> | undefined;

/** Remove the scratch directories of processes that are gone (once per process; never throws). */
export function sweepDeadScratch(): Promise<void> {
  swept ??= sweep(Date.now()).catch(() => undefined);
  return swept;
}

async function sweep(now: number): Promise<void> {
  const root = scratchRoot();
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return;
  }
  await Promise.all(
    names.map(async (name) => {
      if (name === ownName) return;
      const dir = path.join(root, name);
      const owner = OWNER.exec(name);
      const dead = owner !== null && owner[1] === host && !running(Number(owner[2]));
      if (dead || (await newestChange(dir)) < now - QUIET_FOR_MS) await rm(dir, { recursive: true, force: true });
    }),
  );
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The latest mtime of the directory and everything in it. */
async function newestChange(dir: string): Promise<number> {
  let newest = (await stat(dir).catch(() => undefined))?.mtimeMs ?? 0;
  const entries = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  for (const entry of entries) {
    const changed = (await stat(path.join(dir, entry)).catch(() => undefined))?.mtimeMs ?? 0;
    newest = Math.max(newest, changed);
  }
  return newest;
}

/**
 * A fresh directory (mode 0700) for one write, named `<purpose>-<random>` in this process's;
 * `remove` deletes it with whatever is in it.
 */
export async function scratchDirectory(purpose: 'parts' | 'staged'): Promise<{ dir: string; remove: () => Promise<void> }> {
  await sweepDeadScratch();
  const own = ownScratchDirectory();
  await mkdir(own, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(own, `${purpose}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Run `work` with a scratch directory and remove it once `work` has settled. `work` must not
 * return while something still writes into the directory.
 */
export async function withScratch<T>(purpose: 'parts' | 'staged', work: (dir: string) => Promise<T>): Promise<T> {
  const scratch = await scratchDirectory(purpose);
  try {
    return await work(scratch.dir);
  } finally {
    await scratch.remove();
  }
}
