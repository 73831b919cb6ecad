// Scenario small-files (issue 18, "how cost grows"): many small uploads, each one POST with
// creation-with-upload, tusport vs bare @tus/server at a fixed concurrency. Runs through the
// runner's usual rounds (warm-up, then tusport and bare alternately, BENCH_PAIRS rounds; the
// store is emptied and `sync` run between runs) and the client-ceiling check against the sink.
import fs from 'node:fs';
import path from 'node:path';
import { runNodeClient } from './proc.mjs';
import { dataFiles, ROOT } from './servers.mjs';

const CLIENT = path.join(ROOT, 'bench', 'clients', 'small-files.mjs');

export function smallFilesScenario(env = process.env) {
  const count = Number(env.BENCH_SMALL_FILES ?? 10000);
  const size = Number(env.BENCH_SMALL_FILE_BYTES ?? 4096);
  const concurrency = Number(env.BENCH_SMALL_FILES_CONCURRENCY ?? 16);
  const runClient = (uploads) => async (server) => {
    const real = server.name !== 'sink';
    const args = ['--url', server.url, '--count', String(uploads), '--size', String(size), '--concurrency', String(concurrency)];
    const out = await runNodeClient(CLIENT, real ? [...args, '--expect-offset'] : args);
    if (real && out.errors === 0) {
      // Every upload is stored whole: one data file of `size` bytes each, nothing else.
      const files = dataFiles(server.dir);
      const whole = files.filter((file) => fs.statSync(file).size === size).length;
      if (whole !== uploads || files.length !== uploads) throw new Error(`${server.name}: expected ${uploads} files of ${size} bytes, found ${whole} among ${files.length}`);
    }
    return { ...out, value: out.value, ms: out.ms, cpuMs: out.cpuMs };
  };
  return {
    id: 'small-files',
    title: `${count.toLocaleString('en')} uploads of ${size / 1024} KiB, each one POST with creation-with-upload, ${concurrency} at a time`,
    method: `bench/clients/small-files.mjs: ${count} POSTs, each with Upload-Length ${size}, a filename in Upload-Metadata and the whole ${size}-byte body (creation-with-upload), ${concurrency} in flight on ${concurrency} keep-alive connections; every answer must be 201 with Upload-Offset ${size}, and after each run the store must hold ${count} data files of ${size} bytes. Value = uploads per second over the whole run (not an autocannon duration: the "connections × s" below is the concurrency and the runner's default duration, which this scenario does not use). tusport fsyncs each upload's sidecar, data file and directory before its 201; bare @tus/server fsyncs nothing.`,
    kind: 'rate',
    metric: { name: 'uploads/s', better: 'higher' },
    variants: ['tusport', 'bare'],
    connections: concurrency,
    warmup: runClient(Math.min(count, 1000)),
    client: runClient(count),
  };
}
