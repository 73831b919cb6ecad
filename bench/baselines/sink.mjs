// Not a baseline: a fake tus server that reads every body and throws it away. Clients run
// against it to measure their own ceiling (how fast they can push bytes when the server does
// nothing), which shows whether a client could be the bottleneck of a measurement.
//
//   node bench/baselines/sink.mjs --port 1234
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' } } });

const server = http.createServer((req, res) => {
  if (req.method === 'POST') {
    req.resume();
    req.on('end', () => {
      res.writeHead(201, { Location: `http://${req.headers.host}/files/${randomBytes(16).toString('hex')}`, 'Tus-Resumable': '1.0.0' });
      res.end();
    });
    return;
  }
  if (req.method === 'PATCH') {
    const offset = Number(req.headers['upload-offset'] ?? 0);
    let bytes = 0;
    req.on('data', (chunk) => (bytes += chunk.length));
    req.on('end', () => {
      res.writeHead(204, { 'Upload-Offset': String(offset + bytes), 'Tus-Resumable': '1.0.0' });
      res.end();
    });
    return;
  }
  req.resume();
  res.writeHead(200);
  res.end();
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
