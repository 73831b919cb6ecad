// Baseline: the least a Node server can do to store an upload. Plain node:http, no tus checks,
// no locks, no sidecars: POST creates an empty file and answers its URL; PATCH pipes the body
// into the file at Upload-Offset with `req.pipe(fs.createWriteStream(...))`.
//
//   node bench/baselines/raw.mjs --port 1234 --dir /tmp/x [--fsync]
//
// Without --fsync the 204 goes out once the bytes are in the page cache (no durability: this
// is "raw as is"). With --fsync the write stream is opened with `flush: true`, so the file is
// fsynced before it closes and before the 204, exactly what tusport's disk store does.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { port: { type: 'string' }, dir: { type: 'string' }, fsync: { type: 'boolean', default: false } },
});
const directory = values.dir;
fs.mkdirSync(directory, { recursive: true });

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === '/files') {
    const id = randomBytes(16).toString('hex');
    fs.closeSync(fs.openSync(path.join(directory, id), 'w'));
    res.writeHead(201, { Location: `http://${req.headers.host}/files/${id}`, 'Tus-Resumable': '1.0.0' });
    res.end();
    req.resume();
    return;
  }
  const match = /^\/files\/([0-9a-f]{32})$/.exec(url.pathname);
  if (req.method === 'PATCH' && match) {
    const offset = Number(req.headers['upload-offset'] ?? 0);
    const sink = fs.createWriteStream(path.join(directory, match[1]), { flags: 'r+', start: offset, flush: values.fsync });
    let bytes = 0;
    req.on('data', (chunk) => (bytes += chunk.length));
    req.pipe(sink);
    sink.on('close', () => {
      res.writeHead(204, { 'Upload-Offset': String(offset + bytes), 'Tus-Resumable': '1.0.0' });
      res.end();
    });
    sink.on('error', (error) => {
      res.writeHead(500);
      res.end(String(error));
    });
    return;
  }
  res.writeHead(req.method === 'GET' ? 200 : 404);
  res.end();
  req.resume();
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
