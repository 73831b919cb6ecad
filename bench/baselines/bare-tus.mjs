// Baseline: bare @tus/server with @tus/file-store's FileStore on node:http, the setup the
// @tus/server README shows. No fsync anywhere (FileStore never syncs).
//
//   node bench/baselines/bare-tus.mjs --port 1234 --dir /tmp/x
import fs from 'node:fs';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';

const { values } = parseArgs({ options: { port: { type: 'string' }, dir: { type: 'string' } } });
fs.mkdirSync(values.dir, { recursive: true });

const tus = new Server({ path: '/files', datastore: new FileStore({ directory: values.dir }) });
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/') {
    res.end('ok');
    return;
  }
  tus.handle(req, res);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(values.port), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
