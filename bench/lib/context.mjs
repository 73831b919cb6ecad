// Settings from the environment (see bench/run.mjs) and the input files every client reads.
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { run } from './proc.mjs';
import { ROOT } from './servers.mjs';

export function benchContext(env = process.env) {
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
