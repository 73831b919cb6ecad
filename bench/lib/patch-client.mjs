// The PATCH loop of the bench's streaming tus clients (bench/clients/chunked.mjs,
// bench/clients/stream-upload.mjs): each PATCH streams its slice of a file from disk through
// three reused 1 MiB buffers, each written to the request as soon as it is read (a buffer is
// reused only once its previous write has been flushed). Never more than 3 MiB in memory, and
// no fresh buffer per read (fs.createReadStream's cost the client ~1.4 s of CPU per GiB here).
import fs from 'node:fs';
import http from 'node:http';
import { createUpload } from './tus.mjs';

const BUFFER_BYTES = 1024 * 1024;

/**
 * A client reading `file` whose upload offsets wrap around to the file's start as often as
 * needed (a 10 GiB upload needs no 10 GiB input file), on one keep-alive connection.
 */
export function patchClient(file) {
  const fileSize = fs.statSync(file).size;
  const fd = fs.openSync(file, 'r');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const buffers = Array.from({ length: 3 }, () => Buffer.allocUnsafeSlow(BUFFER_BYTES));
  const flushed = buffers.map(() => Promise.resolve());

  /** Fill `length` bytes of `buffer` from upload offset `offset`. */
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

  /**
   * One PATCH of `length` bytes at `offset`; resolves with the new offset once the server
   * answered 204 with it. `checksum` goes in `Upload-Checksum`, as a trailer of a chunked body
   * when `trailer` is set.
   */
  async function patch(url, offset, length, { checksum, trailer = false } = {}) {
    const headers = { 'Tus-Resumable': '1.0.0', 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream' };
    // A trailer goes after a chunked body (Node sends one when the Trailer header is set).
    if (checksum && trailer) headers.Trailer = 'Upload-Checksum';
    else headers['Content-Length'] = String(length);
    if (checksum && !trailer) headers['Upload-Checksum'] = checksum;
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
    for (let sent = 0, i = 0; sent < length; i++) {
      const k = i % buffers.length;
      await Promise.race([flushed[k], answered]); // an early error answer ends the PATCH
      const n = Math.min(BUFFER_BYTES, length - sent);
      await readAt(buffers[k], n, offset + sent);
      sent += n;
      flushed[k] = new Promise((resolve) => req.write(buffers[k].subarray(0, n), () => resolve()));
    }
    if (checksum && trailer) req.addTrailers({ 'Upload-Checksum': checksum });
    req.end();
    return answered;
  }

  /**
   * POST an upload of `size` bytes to the collection `endpoint`, then PATCH it in `chunk`-byte
   * slices; `options(offset)` gives each PATCH's checksum options. Timed from before the POST.
   */
  async function upload(endpoint, size, chunk, options = () => ({})) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const url = await createUpload(endpoint, size, agent);
    let offset = 0;
    let patches = 0;
    while (offset < size) {
      offset = await patch(url, offset, Math.min(chunk, size - offset), options(offset));
      patches++;
    }
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { ms, bytes: offset, patches, cpuMs: (cpu.user + cpu.system) / 1000, url };
  }

  /** Hash `length` bytes from `offset` into `hash` (a crypto Hash), through the first buffer. */
  async function hashRange(hash, offset, length) {
    for (let done = 0; done < length; ) {
      const n = Math.min(BUFFER_BYTES, length - done);
      await readAt(buffers[0], n, offset + done);
      hash.update(buffers[0].subarray(0, n));
      done += n;
    }
  }

  function close() {
    agent.destroy();
    fs.closeSync(fd);
  }

  return { fileSize, upload, hashRange, close };
}
