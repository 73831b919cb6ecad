// Small-request rates with autocannon: every connection works on an upload of its own.
//
//   node bench/clients/rate.mjs --url http://127.0.0.1:1080/files --mode head|patch \
//        --connections 50 --duration 10 [--body-file chunk.bin]
//
// head:  each connection HEADs its own upload (created beforehand) over and over.
// patch: each connection appends --body-file (read once from disk, 64 KiB) to its own upload,
//        created with a huge Upload-Length; its Upload-Offset header is the offset the previous
//        204 returned, so every PATCH is a valid tus append (pipelining 1: one request in flight
//        per connection, so the next request is built after the previous answer arrived).
//
// Prints one JSON line: { rps, ok, non2xx, errors, timeouts, latency: {p50, p99}, cpuMs, seconds }.
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { createUpload } from '../lib/tus.mjs';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    mode: { type: 'string' },
    connections: { type: 'string', default: '50' },
    duration: { type: 'string', default: '10' },
    'body-file': { type: 'string' },
  },
});
// autocannon parses responses with http-parser-js, which does not know a response answers a
// HEAD: a HEAD answer without Content-Length (bare @tus/server sends none) would be read "until
// the connection closes" and never complete. Make each client's parser skip the body of every
// response in head mode, as Node's own parser does for HEAD.
const { HTTPParser } = createRequire(createRequire(import.meta.url).resolve('autocannon'))('http-parser-js');
function skipBodies(parser) {
  let handler = () => {};
  Object.defineProperty(parser, HTTPParser.kOnHeadersComplete, {
    configurable: true,
    get: () => (...args) => {
      handler(...args);
      return 1; // skipBody
    },
    set: (fn) => {
      handler = fn;
    },
  });
}

const connections = Number(values.connections);
const mode = values.mode;
if (mode !== 'head' && mode !== 'patch') throw new Error('--mode head|patch');
const body = mode === 'patch' ? fs.readFileSync(values['body-file']) : undefined;
const uploadLength = mode === 'patch' ? 2 ** 40 : 1024;

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const uploads = await Promise.all(Array.from({ length: connections }, () => createUpload(values.url, uploadLength, agent)));
agent.destroy();

let nextClient = 0;
let offsetErrors = 0;
function setupClient(client) {
  const url = new URL(uploads[nextClient++ % uploads.length]);
  if (mode === 'head') {
    skipBodies(client.parser);
    client.setRequests([{ method: 'HEAD', path: url.pathname, headers: { 'Tus-Resumable': '1.0.0' } }]);
    return;
  }
  const state = { offset: 0 };
  client.setRequests([
    {
      method: 'PATCH',
      path: url.pathname,
      body,
      setupRequest: (request) => ({
        ...request,
        headers: {
          'Tus-Resumable': '1.0.0',
          'Content-Type': 'application/offset+octet-stream',
          'Upload-Offset': String(state.offset),
          'Content-Length': String(body.length),
        },
      }),
      onResponse: (status, _body, _context, headers) => {
        const next = Number(headers['upload-offset'] ?? headers['Upload-Offset']);
        if (status === 204 && next !== state.offset + body.length) offsetErrors++;
        if (Number.isFinite(next)) state.offset = next;
      },
    },
  ]);
}

const origin = new URL(values.url).origin;
const cpu0 = process.cpuUsage();
const result = await autocannon({
  url: origin,
  connections,
  duration: Number(values.duration),
  pipelining: 1,
  setupClient,
});
const cpu = process.cpuUsage(cpu0);
const ok = result['2xx'];
console.log(
  JSON.stringify({
    rps: ok / result.duration,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    offsetErrors,
    latency: { p50: result.latency.p50, p99: result.latency.p99 },
    cpuMs: (cpu.user + cpu.system) / 1000,
    seconds: result.duration,
  }),
);
