#!/usr/bin/env node
// Development aid: start the test harness's Ceph cluster and keep it running until SIGINT/SIGTERM,
// writing its CephInfo to the file given as argument. Point S3 test runs at it with
// TUSPORT_TEST_CEPH_INFO=<that file>, so several runs on one machine share one cluster instead of
// taking turns on the mon's fixed port. Usage: node scripts/dev-ceph.mjs /tmp/ceph-info.json [GiB]
import { writeFileSync, rmSync } from 'node:fs';
import { runnerImport } from 'vite';

const [file, gib = '6'] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/dev-ceph.mjs <info-file> [memstore GiB]');
  process.exit(2);
}
const { module } = await runnerImport(new URL('../test/harness/ceph.ts', import.meta.url).pathname);
const cluster = await module.startCeph(undefined, Number(gib) * 1024 ** 3);
writeFileSync(file, JSON.stringify(cluster.info, null, 2));
console.log(`ceph ready at ${cluster.info.endpoint}; info in ${file}`);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    rmSync(file, { force: true });
    await cluster.stop();
    process.exit(0);
  });
}
setInterval(() => {}, 1 << 30);
