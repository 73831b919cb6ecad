// The benchmark scenarios: which servers each compares and which client drives them.
import path from 'node:path';
import { runNodeClient } from './proc.mjs';
import { ROOT } from './servers.mjs';

const CLIENTS = path.join(ROOT, 'bench', 'clients');

/**
 * Each scenario: `variants` in the order they alternate (the first is tusport), `metric` with
 * whether lower or higher is better, and `client(server, ctx)` returning a sample
 * { value, ms, cpuMs, ... } from a client process.
 */
export function scenarios(ctx) {
  const MiB = ctx.sizeBytes / 2 ** 20;
  const sizeLabel = MiB >= 1024 ? `${MiB / 1024} GiB` : `${MiB} MiB`;
  const chunkLabel = `${ctx.chunkBytes / 2 ** 20} MiB`;
  const upload = (script, extra = []) => async (server) => {
    const out = await runNodeClient(path.join(CLIENTS, script), ['--url', server.url, '--file', ctx.inputFile, ...extra]);
    return { value: out.ms / 1000, ms: out.ms, cpuMs: out.cpuMs, bytes: out.bytes };
  };
  const rate = (mode, duration, connections = ctx.connections) => async (server) => {
    const args = ['--url', server.url, '--mode', mode, '--connections', String(connections), '--duration', String(duration)];
    if (mode === 'patch') args.push('--body-file', ctx.smallBodyFile);
    const out = await runNodeClient(path.join(CLIENTS, 'rate.mjs'), args);
    return { value: out.rps, ms: out.seconds * 1000, cpuMs: out.cpuMs, ...out };
  };
  const concurrent = async (server) => {
    const out = await runNodeClient(path.join(CLIENTS, 'concurrent.mjs'), [
      '--url', server.url, '--file', ctx.inputFile,
      '--uploads', String(ctx.concUploads), '--size', String(ctx.concSizeBytes), '--chunk', String(ctx.concChunkBytes),
    ]);
    return { value: out.ms / 1000, ...out };
  };
  const conc = { uploads: ctx.concUploads, sizeMiB: ctx.concSizeBytes / 2 ** 20, chunkMiB: ctx.concChunkBytes / 2 ** 20 };
  return [
    {
      id: 'single-patch',
      title: `${sizeLabel} in one PATCH (curl -T)`,
      method: `POST, then one PATCH of the whole file sent by \`curl -T\` (streams from disk; \`Expect:\` disabled). Time = POST + curl's time_total.`,
      kind: 'upload',
      metric: { name: 'seconds', better: 'lower' },
      variants: ['tusport', 'raw', 'raw-fsync', 'bare'],
      reportRss: true,
      client: upload('curl-single.mjs'),
    },
    {
      id: 'chunked-patch',
      title: `${sizeLabel} in ${chunkLabel} PATCHes (chunking client)`,
      method: `POST, then sequential PATCHes of ${chunkLabel} on one keep-alive connection, each streaming its slice from the file through a few reused 1 MiB read buffers (bench/clients/chunked.mjs). Time = POST to last 204.`,
      kind: 'upload',
      metric: { name: 'seconds', better: 'lower' },
      variants: ['tusport', 'raw', 'raw-fsync', 'bare', 'tusport-nosync', 'tusport-incremental'],
      extraRatios: [['tusport-nosync', 'raw'], ['tusport-nosync', 'bare'], ['tusport-incremental', 'raw-fsync']],
      client: upload('chunked.mjs', ['--chunk', String(ctx.chunkBytes)]),
    },
    {
      id: 'tus-js-client',
      title: `${sizeLabel} by tus-js-client in ${chunkLabel} chunks`,
      method: `tus-js-client 4.3 in Node, \`new Upload(fs.createReadStream(file), { chunkSize: ${chunkLabel} })\`, no retries. Time = start() to onSuccess.`,
      kind: 'upload',
      metric: { name: 'seconds', better: 'lower' },
      // raw-fsync is not a tus server, but it answers POST/PATCH the way tus-js-client needs:
      // a reference for what fsyncing every chunk costs with this client.
      // tusport-nosync: the disk store's `sync: none`, no fsync like bare and raw.
      variants: ['tusport', 'bare', 'raw-fsync', 'tusport-nosync', 'raw', 'tusport-incremental'],
      extraRatios: [['tusport-nosync', 'bare'], ['tusport-nosync', 'raw'], ['tusport-incremental', 'bare']],
      client: upload('tusjs.mjs', ['--chunk', String(ctx.chunkBytes)]),
    },
    {
      id: 'tus-js-client-parallel',
      title: `${sizeLabel} by tus-js-client in ${chunkLabel} chunks with parallelUploads 4, vs one stream`,
      method: `tusport: tus-js-client 4.3 in Node, \`new Upload(fs.createReadStream(file), { chunkSize: ${chunkLabel}, parallelUploads: 4 })\`: four partial uploads at once, then the final upload made of them (concatenation: the first partial copied by the kernel, the others streamed once). The baselines: the same file as one stream (\`curl -T\`, one PATCH) to a server that fsyncs it, as tusport does; and tusport itself fed by the same tus-js-client without parallelUploads (what turning it on gains). Time = start() to onSuccess / POST + curl's time_total.`,
      kind: 'upload',
      metric: { name: 'seconds', better: 'lower' },
      variants: ['tusport', 'raw-fsync', 'tusport-onestream'],
      client: (server) => {
        const chunks = ['--chunk', String(ctx.chunkBytes)];
        if (server.name === 'tusport') return upload('tusjs.mjs', [...chunks, '--parallel', '4'])(server);
        return server.name === 'tusport-onestream' ? upload('tusjs.mjs', chunks)(server) : upload('curl-single.mjs')(server);
      },
    },
    {
      id: 'concurrent-uploads',
      title: `${conc.uploads} concurrent ${conc.sizeMiB} MiB uploads in ${conc.chunkMiB} MiB PATCHes`,
      method: `bench/clients/concurrent.mjs: ${conc.uploads} uploads started at once, each on a keep-alive connection of its own: POST, then sequential ${conc.chunkMiB} MiB PATCHes, each streaming a ${conc.sizeMiB} MiB slice of the input file from disk through two reused 256 KiB buffers. Time = first POST to last 204; MiB/s = all bytes ÷ time; PATCH latency = first byte sent to the end of the 204 (p50/p99 over all ${(conc.uploads * conc.sizeMiB) / conc.chunkMiB} PATCHes of a run, then the median over the runs). A failed request is an error and ends its upload (no retries).`,
      kind: 'concurrent',
      metric: { name: 'seconds', better: 'lower' },
      totalBytes: ctx.concUploads * ctx.concSizeBytes,
      variants: ['tusport', 'bare', 'raw-fsync'],
      client: concurrent,
    },
    {
      id: 'checksum-patch',
      title: `${sizeLabel} in ${chunkLabel} PATCHes with and without Upload-Checksum`,
      method: `The chunked-patch client (bench/clients/chunked.mjs) against the same tusport build: every PATCH with \`Upload-Checksum: sha256 ...\` (verified while the bytes stream), without it, and with the checksum as a trailer of a chunked body. The client computes the digests before its clock starts. Time = POST to last 204.`,
      kind: 'upload',
      metric: { name: 'seconds', better: 'lower' },
      variants: ['tusport-sha256', 'tusport', 'tusport-trailer'],
      client: (server) => {
        const checksum = { 'tusport-sha256': ['--checksum', 'sha256'], 'tusport-trailer': ['--checksum', 'sha256', '--trailer'] }[server.name] ?? [];
        return upload('chunked.mjs', ['--chunk', String(ctx.chunkBytes), ...checksum])(server);
      },
    },
    {
      id: 'head-rate',
      title: `HEAD rate, ${ctx.connections} connections`,
      method: `autocannon, ${ctx.connections} connections, pipelining 1, ${ctx.duration} s per run; each connection HEADs an upload of its own (created beforehand). Value = 2xx responses per second.`,
      kind: 'rate',
      metric: { name: 'requests/s', better: 'higher' },
      variants: ['tusport', 'bare'],
      client: rate('head', ctx.duration),
      warmup: rate('head', ctx.warmupDuration),
    },
    {
      id: 'patch-rate-64kib',
      title: `64 KiB PATCH rate, ${ctx.connections} connections`,
      method: `autocannon, ${ctx.connections} connections, pipelining 1, ${ctx.duration} s per run; each connection appends a 64 KiB body to an upload of its own (Upload-Length 2^40), its Upload-Offset taken from the previous 204, so every PATCH is a valid tus append. Value = 2xx responses per second.`,
      kind: 'rate',
      metric: { name: 'requests/s', better: 'higher' },
      variants: ['tusport', 'bare', 'raw-fsync', 'raw'],
      client: rate('patch', ctx.duration),
      warmup: rate('patch', ctx.warmupDuration),
    },
    lockerScenario(ctx, rate, 'patch', '64 KiB PATCHes', `The patch-rate client (autocannon, pipelining 1), so a PATCH's latency is its own and not a queue's. fsync dominates a PATCH and varies a lot on this VM.`),
    lockerScenario(ctx, rate, 'head', 'HEADs', `The head-rate client. A HEAD takes the upload's lock like a PATCH but writes nothing (no fsync), so this isolates what the Redis locker adds to every request.`),
  ];
}

/**
 * tusport with \`locker: { type: redis }\` against the same tusport with the default memory locker,
 * on few connections (BENCH_LOCKER_CONNECTIONS, default 1): with one connection, 1 / rate is the
 * per-request latency, so the difference of the two is what the Redis locker adds per request.
 */
function lockerScenario(ctx, rate, mode, what, how) {
  const connections = ctx.lockerConnections;
  const plural = connections === 1 ? '' : 's';
  return {
    id: `locker-${mode}-latency`,
    title: `${what}, Redis locker vs memory locker, ${connections} connection${plural}`,
    method: `${how} ${connections} connection${plural}, ${ctx.duration} s per run. The Redis variant's redis-server runs on loopback without persistence; each request takes the upload's lock (SET NX PX) and releases it (a compare-and-delete script that also PUBLISHes): two Redis round trips. Added latency per request = 1 / rate of the Redis variant − 1 / rate of the memory variant.`,
    kind: 'rate',
    metric: { name: 'requests/s', better: 'higher' },
    variants: ['tusport-redis', 'tusport'],
    connections,
    client: rate(mode, ctx.duration, connections),
    warmup: rate(mode, ctx.warmupDuration, connections),
  };
}
