// A small tus chunking client: POST an upload of the whole file, then sequential PATCHes of
// `--chunk` bytes on one keep-alive connection, each streaming its slice of the file from disk
// (bench/lib/patch-client.mjs: reused 1 MiB buffers, never more than 3 MiB of the file in
// memory; with them the client sends 1 GiB to a discarding server in ~0.7 s, like curl, so the
// client is not the bottleneck).
//
//   node bench/clients/chunked.mjs --url http://127.0.0.1:1080/files --file big.bin --chunk 8388608
//
// `--checksum sha256` sends each PATCH with `Upload-Checksum` (as a trailer of a chunked body with
// `--trailer`). The digests are computed before the clock starts, so the time measured is the
// server's verifying, not the client's hashing.
//
// Prints one JSON line: { ms, bytes, patches, cpuMs, url } (ms from before the POST to the last 204).
import { createHash } from 'node:crypto';
import { parseArgs } from 'node:util';
import { patchClient } from '../lib/patch-client.mjs';

const { values } = parseArgs({
  options: { url: { type: 'string' }, file: { type: 'string' }, chunk: { type: 'string' }, checksum: { type: 'string' }, trailer: { type: 'boolean', default: false } },
});
const client = patchClient(values.file);
const size = client.fileSize;
const chunk = Number(values.chunk);

/** `Upload-Checksum` of every chunk, by offset (read once, before the clock starts). */
async function chunkChecksums(algorithm) {
  const checksums = new Map();
  for (let offset = 0; offset < size; offset += chunk) {
    const hash = createHash(algorithm);
    await client.hashRange(hash, offset, Math.min(chunk, size - offset));
    checksums.set(offset, `${algorithm} ${hash.digest('base64')}`);
  }
  return checksums;
}

const checksums = values.checksum ? await chunkChecksums(values.checksum) : undefined;
const result = await client.upload(values.url, size, chunk, (offset) => ({ checksum: checksums?.get(offset), trailer: values.trailer }));
client.close();
console.log(JSON.stringify(result));
