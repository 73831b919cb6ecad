#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ (built by `npm run build`, or by `npm start` when stale).
import { main } from '../dist/cli/index.js';

main(process.argv).catch((error) => {
  process.stderr.write(`tusport: ${error?.stack ?? error}\n`);
  process.exit(1);
});
