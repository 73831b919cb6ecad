// Settings from the environment (see bench/run.mjs) and the input files every client reads.
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run } from './proc.mjs';
import { ROOT } from './servers.mjs';

/**
 * BENCH_QUICK=1: every scenario end to end at small sizes, a smoke test of the bench itself (its
 * figures mean nothing). Results and the report go to a temporary directory unless
 * BENCH_RESULTS_DIR / BENCH_DOCS say otherwise, so the committed ones stay as they are.
 */
export const QUICK = {
  BENCH_SIZE_MB: '64', BENCH_PAIRS: '2', BENCH_DURATION: '2',
  BENCH_CONC_UPLOADS: '20', BENCH_CONC_SIZE_MB: '4', BENCH_CONC_CHUNK_MB: '1',
  BENCH_S3_SIZE_MB: '64', BENCH_S3_HEADS: '20',
  BENCH_FLEET_UPLOADS: '6', BENCH_FLEET_SIZE_MB: '4', BENCH_FLEET_CHUNK_MB: '1',
  BENCH_LIST_UPLOADS: '500',
  BENCH_S3_STORE_SIZES: '20,200', BENCH_S3_STORE_HEADS: '10', BENCH_S3_STORE_PATCHES: '5', BENCH_S3_STORE_POSTS: '5', BENCH_S3_STORE_LISTS: '3',
  BENCH_RESULTS_DIR: path.join(os.tmpdir(), 'tusport-bench-quick', 'results'),
  BENCH_DOCS: path.join(os.tmpdir(), 'tusport-bench-quick', 'BENCHMARKS.md'),
};

export function benchContext(env = process.env) {
  // The quick settings fill in what is unset, in `env` itself: the fleet, forms and S3 modules
  // read their own variables from process.env.
  if (env.BENCH_QUICK === '1') for (const [key, value] of Object.entries(QUICK)) env[key] ??= value;
  const duration = Number(env.BENCH_DURATION ?? 10);
  return {
    sizeBytes: Number(env.BENCH_SIZE_MB ?? 1024) * 2 ** 20,
    chunkBytes: Number(env.BENCH_CHUNK_MB ?? 8) * 2 ** 20,
    pairs: Number(env.BENCH_PAIRS ?? 5),
    duration,
    warmupDuration: Math.min(3, duration),
    connections: Number(env.BENCH_CONNECTIONS ?? 50),
    // locker-patch-latency: few connections, so a PATCH's latency is its own, not a queue's.
    lockerConnections: Number(env.BENCH_LOCKER_CONNECTIONS ?? 1),
    // Scenario concurrent-uploads: this many uploads at once, each of concSizeBytes in concChunkBytes PATCHes.
    concUploads: Number(env.BENCH_CONC_UPLOADS ?? 200),
    concSizeBytes: Number(env.BENCH_CONC_SIZE_MB ?? 20) * 2 ** 20,
    concChunkBytes: Number(env.BENCH_CONC_CHUNK_MB ?? 5) * 2 ** 20,
    // S3 scenarios (Ceph RGW): upload size, HEADs per variant; BENCH_S3=0 skips them.
    s3: env.BENCH_S3 !== '0',
    s3SizeBytes: Number(env.BENCH_S3_SIZE_MB ?? 512) * 2 ** 20,
    s3Heads: Number(env.BENCH_S3_HEADS ?? 200),
    s3WaitMs: Number(env.BENCH_S3_WAIT_S ?? 1200) * 1000,
    verify: env.BENCH_VERIFY !== '0',
    resultsDir: path.resolve(ROOT, env.BENCH_RESULTS_DIR ?? 'bench/results'),
    docs: env.BENCH_DOCS === '0' ? undefined : path.resolve(ROOT, env.BENCH_DOCS ?? 'docs/BENCHMARKS.md'),
  };
}

/** Random bytes (incompressible, not zeros), written once and synced; returns their sha256. */
export function writeRandomFile(file, bytes) {
  const fd = fs.openSync(file, 'w');
  const block = Buffer.allocUnsafe(8 * 2 ** 20);
  const hash = createHash('sha256');
  for (let done = 0; done < bytes; ) {
    const n = Math.min(block.length, bytes - done);
    randomFillSync(block, 0, n);
    fs.writeSync(fd, block, 0, n);
    hash.update(block.subarray(0, n));
    done += n;
  }
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  return hash.digest('hex');
}

/** The upload input (ctx.sizeBytes) and the 64 KiB PATCH body, in `work`. */
export async function prepareInputs(ctx, work) {
  ctx.inputFile = path.join(work, 'input.bin');
  ctx.smallBodyFile = path.join(work, 'body-64k.bin');
  ctx.inputHash = writeRandomFile(ctx.inputFile, ctx.sizeBytes);
  writeRandomFile(ctx.smallBodyFile, 64 * 1024);
  await run('sync', []);
}
