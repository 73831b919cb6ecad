// One upload of `--size` bytes, in one PATCH or in PATCHes of `--chunk` bytes, the body read from
// `--file` and wrapped around to its start as often as needed: a 10 GiB upload needs no 10 GiB
// input file (the server stores what it receives; it cannot tell the bytes repeat). Reads go into
// three reused 1 MiB buffers, each written as soon as it is read (like bench/clients/chunked.mjs).
//
//   node bench/clients/stream-upload.mjs --url http://127.0.0.1:1080/files --file big.bin --size 10737418240 [--chunk 8388608]
//
// Prints one JSON line: { ms, bytes, patches, cpuMs, url } (ms from before the POST to the last 204).
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { createUpload } from '../lib/tus.mjs';

const { values } = parseArgs({ options: { url: { type: 'string' }, file: { type: 'string' }, size: { type: 'string' }, chunk: { type: 'string' } } });
const size = Number(values.size);
const chunk = values.chunk ? Number(values.chunk) : size;
const fileSize = fs.statSync(values.file).size;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const fd = fs.openSync(values.file, 'r');

const BUFFER_BYTES = 1024 * 1024;
const buffers = Array.from({ length: 3 }, () => Buffer.allocUnsafeSlow(BUFFER_BYTES));
const flushed = buffers.map(() => Promise.resolve());

/** Fill `length` bytes of `buffer` from the file at upload offset `offset` (wrapping around the file). */
async function readAt(buffer, length, offset) {
  let done = 0;
  while (done < length) {
    const position = (offset + done) % fileSize;
    const n = await new Promise((resolve, reject) =>
      fs.read(fd, buffer, done, Math.min(length - done, fileSize - position), position, (error, read) => (error ? reject(error) : resolve(read))),
    );
    if (n === 0) throw new Error(`file ended at ${position}`);
    done += n;
  }
}

async function patch(url, offset, length) {
  const req = http.request(url, {
    method: 'PATCH',
    agent,
    headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(length) },
  });
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
  answered.catch(() => {});
  for (let sent = 0, i = 0; sent < length; i++) {
    const k = i % buffers.length;
    await Promise.race([flushed[k], answered]);
    const n = Math.min(BUFFER_BYTES, length - sent);
    await readAt(buffers[k], n, offset + sent);
    sent += n;
    flushed[k] = new Promise((resolve) => req.write(buffers[k].subarray(0, n), () => resolve()));
  }
  req.end();
  return answered;
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const url = await createUpload(values.url, size, agent);
let offset = 0;
let patches = 0;
while (offset < size) {
  offset = await patch(url, offset, Math.min(chunk, size - offset));
  patches++;
}
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
fs.closeSync(fd);
console.log(JSON.stringify({ ms, bytes: size, patches, cpuMs: (cpu.user + cpu.system) / 1000, url }));
