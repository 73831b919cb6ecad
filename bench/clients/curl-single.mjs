// One whole file in a single PATCH, sent by curl -T (curl streams the file from disk).
// This script only POSTs the upload and launches curl under /usr/bin/time, then sits idle.
//
//   node bench/clients/curl-single.mjs --url http://127.0.0.1:1080/files --file big.bin
//
// Prints one JSON line: { ms, bytes, cpuMs, url }: ms = POST time + curl's own time_total
// (process start-up excluded); cpuMs = curl's user + system CPU time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { createUpload } from '../lib/tus.mjs';

const { values } = parseArgs({ options: { url: { type: 'string' }, file: { type: 'string' } } });
const size = fs.statSync(values.file).size;

const t0 = performance.now();
const url = await createUpload(values.url, size);
const postMs = performance.now() - t0;

const args = [
  '-f', '%U %S', '--',
  'curl', '-sS', '-X', 'PATCH', '-T', values.file,
  '-H', 'Tus-Resumable: 1.0.0', '-H', 'Upload-Offset: 0', '-H', 'Content-Type: application/offset+octet-stream',
  '-H', 'Expect:', // no 100-continue round trip (servers differ in how they answer it)
  '-o', '/dev/null', '-w', '%{http_code} %{time_total} %{size_upload}', url,
];
const result = await new Promise((resolve, reject) => {
  const child = spawn('/usr/bin/time', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => (stdout += c));
  child.stderr.on('data', (c) => (stderr += c));
  child.once('error', reject);
  child.once('close', (code) => resolve({ code, stdout, stderr }));
});
const [status, seconds, uploaded] = result.stdout.trim().split(' ');
const times = result.stderr.trim().split('\n').pop().split(' ').map(Number);
if (result.code !== 0 || status !== '204' || Number(uploaded) !== size) {
  console.error(`curl: exit ${result.code}, status ${status}, uploaded ${uploaded} of ${size}\n${result.stderr}`);
  process.exit(1);
}
console.log(JSON.stringify({ ms: postMs + Number(seconds) * 1000, bytes: size, cpuMs: (times[0] + times[1]) * 1000, url }));
