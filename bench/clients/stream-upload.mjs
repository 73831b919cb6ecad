// One upload of `--size` bytes, in one PATCH or in PATCHes of `--chunk` bytes, the body read from
// `--file` and wrapped around to its start as often as needed: a 10 GiB upload needs no 10 GiB
// input file (the server stores what it receives; it cannot tell the bytes repeat). The PATCH
// loop is bench/lib/patch-client.mjs's, like bench/clients/chunked.mjs.
//
//   node bench/clients/stream-upload.mjs --url http://127.0.0.1:1080/files --file big.bin --size 10737418240 [--chunk 8388608]
//
// Prints one JSON line: { ms, bytes, patches, cpuMs, url } (ms from before the POST to the last 204).
import { parseArgs } from 'node:util';
import { patchClient } from '../lib/patch-client.mjs';

const { values } = parseArgs({ options: { url: { type: 'string' }, file: { type: 'string' }, size: { type: 'string' }, chunk: { type: 'string' } } });
const size = Number(values.size);
const chunk = values.chunk ? Number(values.chunk) : size;
const client = patchClient(values.file);

const result = await client.upload(values.url, size, chunk);
client.close();
console.log(JSON.stringify(result));
