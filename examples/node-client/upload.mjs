#!/usr/bin/env node
// Upload a file to a tus endpoint from Node with tus-js-client, resumable across runs:
//   [FILETYPE=application/pdf] node upload.mjs <file> <endpoint-url> [bearer-token]
// Interrupt it (Ctrl-C, a crash, a dropped network) and run the same command again: it asks the
// server how far the upload got and continues from there.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tus from 'tus-js-client';

const [file, endpoint, token] = process.argv.slice(2);
if (!file || !endpoint) {
  console.error('usage: node upload.mjs <file> <endpoint-url> [bearer-token]');
  process.exit(2);
}

// Where finished-or-not upload URLs are remembered between runs (one JSON file, keyed by a
// fingerprint of the file and endpoint). tus-js-client's Node build ships this storage.
const stateFile = process.env.UPLOAD_STATE ?? path.join(os.homedir(), '.tus-upload-state.json');
const stats = fs.statSync(file);

const upload = new tus.Upload(fs.createReadStream(file), {
  endpoint,
  uploadSize: stats.size,
  // A chunk per PATCH: with a chunk size, an interruption costs at most one chunk, and
  // servers/proxies with body limits (tusport's maxChunkSize, nginx client_max_body_size) agree.
  chunkSize: Number(process.env.CHUNK_SIZE ?? 8 * 1024 * 1024),
  // Retry through short outages (a restarting server, a proxy reload).
  retryDelays: [0, 1000, 3000, 5000, 10000],
  headers: token ? { Authorization: `Bearer ${token}` } : {},
  // Servers with an accept list check the declared type at creation (and the bytes at the end).
  metadata: { filename: path.basename(file), ...(process.env.FILETYPE ? { filetype: process.env.FILETYPE } : {}) },
  urlStorage: new tus.FileUrlStorage(stateFile),
  // Same file (path, size, mtime) to the same endpoint = the same upload.
  fingerprint: async () => ['node-client', endpoint, path.resolve(file), stats.size, stats.mtimeMs].join('|'),
  // Forget the URL once the upload is done, so the next run of this file starts afresh.
  removeFingerprintOnSuccess: true,
  onChunkComplete: (_chunk, accepted, total) => console.log(`stored ${accepted}/${total}`),
  onError: (error) => {
    console.error(`failed: ${error.message}`);
    process.exit(1);
  },
  onSuccess: () => console.log(`done ${upload.url}`),
});

const previous = await upload.findPreviousUploads();
if (previous.length > 0) {
  console.log(`resuming ${previous[0].uploadUrl}`);
  upload.resumeFromPreviousUpload(previous[0]);
}
upload.start();
