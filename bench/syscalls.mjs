// Syscalls per HEAD, counted by `strace -c -f` attached to each server: a measure of the work a
// request costs that, unlike a rate, does not move with the load other work puts on the machine.
//
//   npm run build && node bench/syscalls.mjs
//   SYSCALL_VARIANTS='[{"label":"old","name":"tusport","bin":"/path/to/old/bin/tusport.js"}, ...]' node bench/syscalls.mjs
//
// Each variant: a server of bench/lib/servers.mjs (`name`), optionally another build's launcher
// (`bin`) and log level (`level`; default tusport's own). 200 unmeasured HEADs, then 2000 counted,
// sequential, on one upload. (Node's agent opens a connection per HEAD here, for every server.)
import fs from 'node:fs'; import os from 'node:os'; import path from 'node:path'; import http from 'node:http';
import { spawn } from 'node:child_process';
import { startVariant } from './lib/servers.mjs';
const N = 2000;
const variants = JSON.parse(
  process.env.SYSCALL_VARIANTS ?? '[{"label":"tusport (info)","name":"tusport"},{"label":"tusport (warn)","name":"tusport","level":"warn"},{"label":"bare","name":"bare"}]',
);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ps-sc-'));
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const req = (url, method, headers = {}) => new Promise((res, rej) => { const r = http.request(url, { method, agent, headers: { 'Tus-Resumable': '1.0.0', ...headers } }, (s) => { s.resume(); s.on('end', () => res(s)); }); r.on('error', rej); r.end(); });
for (const v of variants) {
  if (v.bin) process.env.BENCH_TUSPORT_BIN = v.bin; else delete process.env.BENCH_TUSPORT_BIN;
  const s = await startVariant(v.name, fs.mkdtempSync(path.join(work, 'v-')), { logLevel: v.level });
  const created = await req(s.url, 'POST', { 'Upload-Length': '100' });
  const loc = new URL(created.headers.location, s.url).href;
  for (let i = 0; i < 200; i++) await req(loc, 'HEAD');
  const st = spawn('strace', ['-c', '-f', '-p', String(s.pid), '-o', path.join(work, 'st.txt')]);
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < N; i++) await req(loc, 'HEAD');
  st.kill('SIGINT'); await new Promise((r) => st.on('exit', r));
  const text = fs.readFileSync(path.join(work, 'st.txt'), 'utf8');
    const rows = text.split('\n').filter((l) => /^\s*\d/.test(l)).map((l) => l.trim().split(/\s+/)).map((c) => [c[c.length - 1], Number(c[3])]).filter(([n]) => n !== 'total').sort((a, b) => b[1] - a[1]).slice(0, 12);
  console.log(v.label, 'syscalls per HEAD:', rows.map(([n, c]) => `${n} ${(c / N).toFixed(2)}`).join(', '), '| total', (rows.reduce((a, [, c]) => a + c, 0) / N).toFixed(1));
  await s.stop();
}
fs.rmSync(work, { recursive: true, force: true });
