// `npm start` and the test suite run this first: build dist/ when it is missing or older than any
// source file, so a fresh `npm ci && npm start` works and an edited checkout never serves (or
// tests) stale code.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(full) : statSync(full).mtimeMs);
  }
  return latest;
}

const sources = Math.max(newest('src'), statSync('package.json').mtimeMs, statSync('tsconfig.build.json').mtimeMs);
// tsc writes every output in one go, so one of them dates the whole build.
const marker = 'dist/cli/index.js';
if (!existsSync(marker) || statSync(marker).mtimeMs < sources) {
  process.stderr.write('tusport: building dist/ ...\n');
  execFileSync(process.platform === 'win32' ? 'npx.cmd' : 'npx', ['tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
}
