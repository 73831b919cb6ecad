// tus-js-client (the client Uppy uses) uploading a file from fs.createReadStream in fixed chunks.
//
//   node bench/clients/tusjs.mjs --url http://127.0.0.1:1080/files --file big.bin --chunk 8388608 [--parallel 4]
//
// `--parallel N`: tus-js-client's parallelUploads (N partial uploads at once, then the final
// upload made of them: the concatenation extension).
//
// Prints one JSON line: { ms, bytes, cpuMs, url }.
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import * as tus from 'tus-js-client';

const { values } = parseArgs({ options: { url: { type: 'string' }, file: { type: 'string' }, chunk: { type: 'string' }, parallel: { type: 'string', default: '1' } } });
const size = fs.statSync(values.file).size;

const cpu0 = process.cpuUsage();
const t0 = performance.now();
const url = await new Promise((resolve, reject) => {
  const upload = new tus.Upload(fs.createReadStream(values.file), {
    endpoint: values.url,
    chunkSize: Number(values.chunk),
    parallelUploads: Number(values.parallel),
    retryDelays: null, // a failure is a failed measurement, not something to paper over
    metadata: { filename: 'bench.bin', filetype: 'application/octet-stream' },
    storeFingerprintForResuming: false,
    onError: reject,
    onSuccess: () => resolve(upload.url),
  });
  upload.start();
});
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(JSON.stringify({ ms, bytes: size, cpuMs: (cpu.user + cpu.system) / 1000, url }));
// tus-js-client's keep-alive sockets would hold the process open for a while.
process.exit(0);
