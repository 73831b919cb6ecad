#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, or by `npm start` when stale).
import v8 from 'node:v8';

// V8's incremental marking, off for the server process. Every socket chunk of an upload body is
// a 64 KiB ArrayBuffer outside the JS heap; after an upload or two with idle gaps, V8 fell into a
// state where it restarted incremental marking right after each full GC and freed those buffers
// by full GCs (15-25 per 256 MiB instead of 8 scavenges): chunked uploads took about twice as
// long (docs/BENCHMARKS.md, "GC"). With incremental marking off, V8 collects the chunks with
// scavenges and runs its rare full GCs atomically (a few ms on tusport's ~20 MB heap). Set before
// the CLI is loaded; running node with --incremental-marking yourself keeps V8's default.
if (!process.execArgv.some((flag) => /^--(no-)?incremental[-_]marking$/.test(flag))) {
  v8.setFlagsFromString('--no-incremental-marking');
}

// A reader that stops early (`tusport --help | head -1`) closes the pipe: that is the reader's
// choice, not a failure of ours, so end quietly as other command-line tools do.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error?.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

const { main } = await import('../dist/cli/index.js');

main(process.argv).catch((error) => {
  process.stderr.write(`tusport: ${error?.stack ?? error}\n`);
  process.exit(1);
});
