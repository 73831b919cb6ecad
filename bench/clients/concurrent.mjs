// Many tus uploads at once: `--uploads` uploads of `--size` bytes each, all started together, each
// on a keep-alive connection of its own: POST, then sequential PATCHes of `--chunk` bytes. Every
// upload sends a slice of `--file` (upload i starts at (i mod ⌊file/size⌋) × size), read
// from disk into two reused 256 KiB buffers per upload as the request goes, like bench/clients/chunked.mjs.
//
//   node bench/clients/concurrent.mjs --url http://127.0.0.1:1080/files --file big.bin \
//        --uploads 200 --size 20971520 --chunk 5242880
//
// A failed request (socket error, a status other than 201/204, a wrong Upload-Offset) counts as an
// error and ends that upload (no retries: the point is to see whether the server fails any).
// Prints one JSON line: { ms, bytes, uploads, completed, errors, errorSamples, patches,
// latency: { p50, p99, max }, cpuMs, urls } (ms from the first POST to the last 204; latency = one
// PATCH from its first byte sent to the end of its answer, in ms; urls in upload order).
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createUpload } from '../lib/tus.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    file: { type: 'string' },
    uploads: { type: 'string', default: '200' },
    size: { type: 'string', default: String(20 * 2 ** 20) },
    chunk: { type: 'string', default: String(5 * 2 ** 20) },
  },
});
const uploads = Number(values.uploads);
const size = Number(values.size);
const chunk = Number(values.chunk);
const fileSize = fs.statSync(values.file).size;
if (size > fileSize) throw new Error(`--size ${size} is larger than the file (${fileSize})`);
const fd = fs.openSync(values.file, 'r');

const BUFFER_BYTES = 256 * 1024;

/** Where upload i's bytes start in the file: slot i of the file's whole `size` slots, wrapping around. */
const slots = Math.floor(fileSize / size);
const sliceStart = (i) => (i % slots) * size;

function readInto(buffer, length, position) {
  return new Promise((resolve, reject) => fs.read(fd, buffer, 0, length, position, (error, n) => (error ? reject(error) : resolve(n))));
}

const latencies = [];
let errors = 0;
const errorSamples = [];
let patches = 0;
let bytesAcked = 0;
let completed = 0;

function fail(what, error) {
  errors++;
  if (errorSamples.length < 10) errorSamples.push(`${what}: ${error?.message ?? error}`);
}

/** One PATCH of `length` bytes at `offset`, the body read from the file at `filePosition`. */
async function patch(agent, buffers, url, offset, length, filePosition) {
  const req = http.request(url, {
    method: 'PATCH',
    agent,
    headers: {
      'Tus-Resumable': '1.0.0',
      'Upload-Offset': String(offset),
      'Content-Type': 'application/offset+octet-stream',
      'Content-Length': String(length),
    },
  });
  const t0 = performance.now();
  const answered = new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      res.on('error', reject);
      res.on('end', () => {
        const next = Number(res.headers['upload-offset']);
        if (res.statusCode !== 204 || next !== offset + length) reject(new Error(`PATCH at ${offset}: ${res.statusCode}, Upload-Offset ${next}`));
        else resolve(next);
      });
    });
  });
  answered.catch(() => {}); // surfaced below
  const flushed = buffers.map(() => Promise.resolve());
  for (let sent = 0, i = 0; sent < length; i++) {
    const k = i % buffers.length;
    await Promise.race([flushed[k], answered]); // an early answer (an error) ends the PATCH
    const n = await readInto(buffers[k], Math.min(BUFFER_BYTES, length - sent), filePosition + sent);
    if (n === 0) throw new Error(`file ended at ${filePosition + sent}`);
    sent += n;
    flushed[k] = new Promise((resolve) => req.write(buffers[k].subarray(0, n), () => resolve()));
  }
  req.end();
  const next = await answered;
  latencies.push(performance.now() - t0);
  patches++;
  return next;
}

async function upload(i) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const buffers = [Buffer.allocUnsafeSlow(BUFFER_BYTES), Buffer.allocUnsafeSlow(BUFFER_BYTES)];
  const start = sliceStart(i);
  let url;
  try {
    url = await createUpload(values.url, size, agent);
  } catch (error) {
    fail(`POST #${i}`, error);
    agent.destroy();
    return undefined;
  }
  let offset = 0;
  try {
    while (offset < size) {
      const length = Math.min(chunk, size - offset);
      offset = await patch(agent, buffers, url, offset, length, start + offset);
      bytesAcked += length;
    }
    completed++;
  } catch (error) {
    fail(`upload #${i} at ${offset}`, error);
    return url;
  } finally {
    agent.destroy();
  }
  return url;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const urls = await Promise.all(Array.from({ length: uploads }, (_, i) => upload(i)));
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
fs.closeSync(fd);
latencies.sort((a, b) => a - b);
console.log(
  JSON.stringify({
    ms,
    bytes: bytesAcked,
    uploads,
    completed,
    errors,
    errorSamples,
    patches,
    latency: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies.at(-1) },
    cpuMs: (cpu.user + cpu.system) / 1000,
    sliceBytes: size,
    sliceStarts: Array.from({ length: uploads }, (_, i) => sliceStart(i)),
    urls,
  }),
);
