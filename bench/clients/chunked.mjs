// A small tus chunking client: POST an upload, then sequential PATCHes of `--chunk` bytes on one
// keep-alive connection, each streaming its slice of the file from disk: fs.read into a few
// reused 1 MiB buffers, each written to the request as soon as it is read (a buffer is reused
// only once its previous write has been flushed). Never more than 3 MiB of the file in memory.
//
// Why not fs.createReadStream(file, { start, end }).pipe(req)? It allocates a fresh buffer per
// read; on this machine that cost the client ~1.4 s of CPU per GiB (mostly page faults), close
// to the servers' own times, so the client could have been the bottleneck. With reused buffers
// the client sends 1 GiB to a discarding server in ~0.7 s, like curl.
//
//   node bench/clients/chunked.mjs --url http://127.0.0.1:1080/files --file big.bin --chunk 8388608
//
// `--checksum sha256` sends each PATCH with `Upload-Checksum` (as a trailer of a chunked body with
// `--trailer`). The digests are computed before the clock starts, so the time measured is the
// server's verifying, not the client's hashing.
//
// Prints one JSON line: { ms, bytes, patches, cpuMs, url } (ms from before the POST to the last 204).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createUpload } from '../lib/tus.mjs';

const { values } = parseArgs({
  options: { url: { type: 'string' }, file: { type: 'string' }, chunk: { type: 'string' }, checksum: { type: 'string' }, trailer: { type: 'boolean', default: false } },
});
const size = fs.statSync(values.file).size;
const chunk = Number(values.chunk);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const fd = fs.openSync(values.file, 'r');

const BUFFER_BYTES = 1024 * 1024;
const buffers = Array.from({ length: 3 }, () => Buffer.allocUnsafeSlow(BUFFER_BYTES));
const flushed = buffers.map(() => Promise.resolve());

function readInto(buffer, length, position) {
  return new Promise((resolve, reject) => fs.read(fd, buffer, 0, length, position, (error, n) => (error ? reject(error) : resolve(n))));
}

/** `Upload-Checksum` of every chunk, by offset (read once, before the clock starts). */
async function chunkChecksums(algorithm) {
  const checksums = new Map();
  for (let offset = 0; offset < size; offset += chunk) {
    const hash = createHash(algorithm);
    const end = Math.min(size, offset + chunk);
    for (let position = offset; position < end; ) {
      const n = await readInto(buffers[0], Math.min(BUFFER_BYTES, end - position), position);
      hash.update(buffers[0].subarray(0, n));
      position += n;
    }
    checksums.set(offset, `${algorithm} ${hash.digest('base64')}`);
  }
  return checksums;
}

async function patch(url, offset, length, checksum) {
  const headers = { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' };
  // A trailer goes after a chunked body (Node sends one when the Trailer header is set).
  if (checksum && values.trailer) headers.Trailer = 'Upload-Checksum';
  else headers['Content-Length'] = String(length);
  if (checksum && !values.trailer) headers['Upload-Checksum'] = checksum;
  const req = http.request(url, { method: 'PATCH', agent, headers });
  const answered = new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        const next = Number(res.headers['upload-offset']);
        if (res.statusCode !== 204 || next !== offset + length) reject(new Error(`PATCH at ${offset}: ${res.statusCode}, Upload-Offset ${next}`));
        else resolve(next);
      });
    });
  });
  answered.catch(() => {}); // surfaced below; keeps an early rejection from being "unhandled"
  const end = offset + length;
  for (let position = offset, i = 0; position < end; i++) {
    const k = i % buffers.length;
    await Promise.race([flushed[k], answered]); // an early error answer ends the PATCH
    const n = await readInto(buffers[k], Math.min(BUFFER_BYTES, end - position), position);
    if (n === 0) throw new Error(`file ended at ${position}`);
    position += n;
    flushed[k] = new Promise((resolve) => req.write(buffers[k].subarray(0, n), () => resolve()));
  }
  if (checksum && values.trailer) req.addTrailers({ 'Upload-Checksum': checksum });
  req.end();
  return answered;
}

const checksums = values.checksum ? await chunkChecksums(values.checksum) : undefined;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const url = await createUpload(values.url, size, agent);
let offset = 0;
let patches = 0;
while (offset < size) {
  offset = await patch(url, offset, Math.min(chunk, size - offset), checksums?.get(offset));
  patches++;
}
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
fs.closeSync(fd);
console.log(JSON.stringify({ ms, bytes: offset, patches, cpuMs: (cpu.user + cpu.system) / 1000, url }));
