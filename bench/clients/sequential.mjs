// Latency of one request at a time on one keep-alive connection: tus HEAD, 64 KiB PATCH appends to
// one upload, POST (creation, no body) or GET of the files list (store-size scenario).
//
//   node bench/clients/sequential.mjs --mode head --url http://127.0.0.1:1080/files/ID --count 500 [--token T]
//   node bench/clients/sequential.mjs --mode patch --url .../files/ID --body-file body-64k.bin --count 300
//   node bench/clients/sequential.mjs --mode post --url .../files --count 50
//   node bench/clients/sequential.mjs --mode list --url '.../files?limit=50' --count 20
//
// 3 unmeasured requests first (for post and patch they are real: uploads and bytes). Prints one
// JSON line: { latenciesMs: [...], p50, p99, max, cpuMs, ms }. Any unexpected status fails the run.
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { timeSequential } from '../lib/timed.mjs';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    url: { type: 'string' },
    count: { type: 'string', default: '100' },
    token: { type: 'string' },
    'body-file': { type: 'string' },
  },
});
const count = Number(values.count);
const WARMUP = 3;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const auth = values.token ? { Authorization: `Bearer ${values.token}` } : {};
const body = values['body-file'] ? fs.readFileSync(values['body-file']) : undefined;

function request(method, url, headers, payload, expect) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers: { 'Tus-Resumable': '1.0.0', ...auth, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode !== expect) reject(new Error(`${method} ${url}: ${res.statusCode} (expected ${expect})`));
        else resolve(res.headers);
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

let offset;
const modes = {
  head: () => request('HEAD', values.url, {}, undefined, 200),
  list: () => request('GET', values.url, {}, undefined, 200),
  post: () => request('POST', values.url, { 'Upload-Length': String(2 ** 30), 'Content-Length': '0' }, undefined, 201),
  patch: async () => {
    offset ??= Number((await request('HEAD', values.url, {}, undefined, 200))['upload-offset']);
    const headers = await request(
      'PATCH',
      values.url,
      { 'Upload-Offset': String(offset), 'Content-Type': 'application/offset+octet-stream', 'Content-Length': String(body.length) },
      body,
      204,
    );
    offset = Number(headers['upload-offset']);
  },
};
const once = modes[values.mode];
if (!once) throw new Error('--mode head|patch|post|list');

const { latenciesMs, ms, cpuMs } = await timeSequential(once, count, WARMUP);
agent.destroy();
const sorted = [...latenciesMs].sort((a, b) => a - b);
const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
console.log(JSON.stringify({ p50: at(0.5), p99: at(0.99), max: sorted.at(-1), latenciesMs, ms, cpuMs }));
