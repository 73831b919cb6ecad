// Many small uploads, each one POST with creation-with-upload (the whole body in the POST),
// `--concurrency` at a time on as many keep-alive connections (small-files scenario).
//
//   node bench/clients/small-files.mjs --url http://127.0.0.1:1080/files --count 10000 --size 4096 --concurrency 16
//
// Every answer must be 201 with a Location and, with --expect-offset, `Upload-Offset: <size>`
// (the body was stored); anything else is counted in `errors`. Prints one JSON line:
// { value (uploads/s), uploads, errors, offsetErrors, errorSamples, latency: { p50, p99 }, ms, cpuMs }.
import { randomFillSync } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    count: { type: 'string', default: '10000' },
    size: { type: 'string', default: '4096' },
    concurrency: { type: 'string', default: '16' },
    'expect-offset': { type: 'boolean', default: false },
  },
});
const count = Number(values.count);
const size = Number(values.size);
const concurrency = Number(values.concurrency);
const body = randomFillSync(Buffer.alloc(size));
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
// "name" is `file.bin`, as a client would send it.
const headers = {
  'Tus-Resumable': '1.0.0',
  'Upload-Length': String(size),
  'Upload-Metadata': `filename ${Buffer.from('file.bin').toString('base64')}`,
  'Content-Type': 'application/offset+octet-stream',
  'Content-Length': String(size),
};

let errors = 0;
let offsetErrors = 0;
const errorSamples = [];
const latencies = [];

function post() {
  return new Promise((resolve) => {
    const t = performance.now();
    const fail = (why) => {
      errors += 1;
      if (errorSamples.length < 5) errorSamples.push(why);
      resolve();
    };
    const req = http.request(values.url, { method: 'POST', agent, headers }, (res) => {
      res.resume();
      res.on('end', () => {
        latencies.push(performance.now() - t);
        if (res.statusCode !== 201 || !res.headers.location) return fail(`POST ${res.statusCode}`);
        if (values['expect-offset'] && Number(res.headers['upload-offset']) !== size) {
          offsetErrors += 1;
          return fail(`Upload-Offset ${res.headers['upload-offset']}`);
        }
        resolve();
      });
    });
    req.on('error', (error) => fail(error.message));
    req.end(body);
  });
}

let next = 0;
async function worker() {
  while (next < count) {
    next += 1;
    await post();
  }
}

const cpu0 = process.cpuUsage();
const t0 = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
agent.destroy();
const sorted = latencies.sort((a, b) => a - b);
const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
console.log(
  JSON.stringify({
    value: (count / ms) * 1000,
    uploads: count,
    errors,
    offsetErrors,
    errorSamples,
    latency: { p50: at(0.5), p99: at(0.99) },
    ms,
    cpuMs: (cpu.user + cpu.system) / 1000,
  }),
);
