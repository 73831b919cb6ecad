// The servers under test, each started as its own process on a free loopback port with its own
// data directory: tusport (bin/tusport.js serve) and the baselines in bench/baselines/.
import fs from 'node:fs';
import path from 'node:path';
import { freePort, startServer } from './proc.mjs';
import { benchRedisUrl } from './redis.mjs';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BASELINES = path.join(ROOT, 'bench', 'baselines');

export const SERVERS = {
  tusport: {
    label: 'tusport',
    detail: 'tusport serve, one disk endpoint /files, default logLevel (info) unless BENCH_TUSPORT_LOGLEVEL; fsyncs each PATCH before its 204 (store sync: request, the default)',
  },
  'tusport-nosync': {
    label: 'tusport, sync: none',
    detail: 'the same with the disk store\'s `sync: none`: no fsync before the 204 (as raw and bare)',
  },
  'tusport-incremental': {
    label: 'tusport, V8 incremental marking on',
    detail: 'the same run as `node --incremental-marking bin/tusport.js`: V8\'s default GC, as an app embedding tusport gets it (the launcher otherwise turns incremental marking off)',
  },
  'tusport-redis': {
    label: 'tusport, Redis locker',
    detail: 'the same with locker { type: redis } on a local redis-server (no persistence): every request takes its lock in Redis (SET NX PX, then a compare-and-delete script on release)',
  },
  // The same server; the checksum scenario's client sends Upload-Checksum to these two.
  'tusport-sha256': {
    label: 'tusport, Upload-Checksum: sha256',
    detail: 'tusport as above; every PATCH carries Upload-Checksum: sha256 (digests computed before the clock starts)',
  },
  'tusport-trailer': {
    label: 'tusport, sha256 as a trailer',
    detail: 'tusport as above; every PATCH is chunked with Upload-Checksum: sha256 as a trailer (the server hashes with every algorithm: it learns which one only at the end)',
  },
  // The same server; tus-js-client-parallel's client sends to it without parallelUploads.
  'tusport-onestream': {
    label: 'tusport, tus-js-client without parallelUploads',
    detail: 'tusport as above; the same tus-js-client in the same chunks, one upload after the other (no concatenation)',
  },
  raw: {
    label: 'raw node:http',
    detail: 'req.pipe(fs.createWriteStream) at Upload-Offset, 204 when the stream closes; NO fsync',
  },
  'raw-fsync': {
    label: 'raw node:http + fsync',
    detail: 'the same with createWriteStream({ flush: true }): fsync before close and 204, as tusport does',
  },
  bare: {
    label: 'bare @tus/server',
    detail: '@tus/server 2.4.5 + @tus/file-store FileStore on node:http; NO fsync',
  },
  sink: {
    label: 'discarding sink',
    detail: 'reads and drops every body (client ceiling check only)',
  },
};

/**
 * Start server `name` with data under `workDirectory/<name>`.
 * `nodeFlags` go before the script (e.g. --cpu-prof for profiling).
 */
export async function startVariant(name, workDirectory, { nodeFlags = [], logLevel = process.env.BENCH_TUSPORT_LOGLEVEL, endpoints } = {}) {
  const port = await freePort();
  const dir = path.join(workDirectory, 'data', name);
  fs.mkdirSync(dir, { recursive: true });
  const origin = `http://127.0.0.1:${port}`;
  let args;
  let readyUrl = `${origin}/`;
  switch (name) {
    case 'tusport':
    case 'tusport-nosync':
    case 'tusport-incremental':
    case 'tusport-redis':
    case 'tusport-sha256':
    case 'tusport-trailer':
    case 'tusport-onestream': {
      const configFile = path.join(workDirectory, `tusport-${port}.json`);
      // `endpoints` replaces the default disk endpoint (the S3 scenarios); /files comes first.
      // No logLevel: tusport's default (info), as the targets are stated at it.
      const config = {
        // One client address opens every connection here (up to 500 at once), where a deployment
        // sees many clients: the per-client limit (default 100) would refuse the rest with 503.
        server: { host: '127.0.0.1', port, ...(logLevel ? { logLevel } : {}), maxConnectionsPerClient: 10_000 },
        ...(name === 'tusport-redis' ? { locker: { type: 'redis', url: await benchRedisUrl() } } : {}),
        endpoints: endpoints ?? [{ path: '/files', store: { type: 'disk', directory: dir, ...(name === 'tusport-nosync' ? { sync: 'none' } : {}) } }],
      };
      if (name === 'tusport-incremental') nodeFlags = [...nodeFlags, '--incremental-marking'];
      fs.writeFileSync(configFile, JSON.stringify(config, null, 2));
      // BENCH_TUSPORT_BIN: another build's launcher, e.g. to measure a change against this one.
      args = [...nodeFlags, process.env.BENCH_TUSPORT_BIN ?? path.join(ROOT, 'bin', 'tusport.js'), 'serve', '--config', configFile];
      readyUrl = `${origin}/healthz`;
      break;
    }
    case 'raw':
      args = [...nodeFlags, path.join(BASELINES, 'raw.mjs'), '--port', String(port), '--dir', dir];
      break;
    case 'raw-fsync':
      args = [...nodeFlags, path.join(BASELINES, 'raw.mjs'), '--port', String(port), '--dir', dir, '--fsync'];
      break;
    case 'bare':
      args = [...nodeFlags, path.join(BASELINES, 'bare-tus.mjs'), '--port', String(port), '--dir', dir];
      break;
    case 'sink':
      args = [...nodeFlags, path.join(BASELINES, 'sink.mjs'), '--port', String(port)];
      break;
    default:
      throw new Error(`unknown server ${name}`);
  }
  const server = await startServer({ name, command: process.execPath, args, readyUrl, baseUrl: `${origin}/files`, cwd: ROOT });
  return { ...server, dir };
}

/** Remove everything the server stored (keeps the directory itself: FileStore creates it only once). */
export function emptyDirectory(dir) {
  for (const entry of fs.readdirSync(dir)) fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
}

/** The uploaded data files in a store directory (everything but sidecars). */
export function dataFiles(dir) {
  return fs
    .readdirSync(dir)
    .filter((name) => !name.endsWith('.json') && !name.startsWith('.'))
    .map((name) => path.join(dir, name))
    .filter((file) => fs.statSync(file).isFile());
}
