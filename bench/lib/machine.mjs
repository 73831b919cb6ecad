// What machine the figures come from: CPU, memory, Node, the disk the stores write to, and a
// quick measurement of that disk's sequential write speed with and without fsync.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function sh(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function readTrim(file) {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function parseDd(text) {
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(text ?? '');
  if (!m) return undefined;
  return Math.round(Number(m[1]) / Number(m[2]) / 1e6);
}

export function describeMachine(workDirectory) {
  const source = sh('findmnt', ['-no', 'SOURCE', '--target', workDirectory]);
  const fstype = sh('findmnt', ['-no', 'FSTYPE', '--target', workDirectory]);
  const device = source?.replace(/^\/dev\//, '').replace(/\[.*$/, '');
  const base = device?.replace(/p?\d+$/, '') ?? '';
  const rotational = readTrim(`/sys/block/${device}/queue/rotational`) ?? readTrim(`/sys/block/${base}/queue/rotational`);
  const model = readTrim(`/sys/block/${device}/device/model`) ?? readTrim(`/sys/block/${base}/device/model`);
  const driver = device?.startsWith('vd') ? 'virtio block device' : device?.startsWith('nvme') ? 'NVMe' : undefined;
  // Sequential write of 256 MiB with dd, without and with conv=fsync (dd's own MB/s, 10^6);
  // the median of three, since the first write after a quiet spell is often much slower here.
  const once = (fsync) => {
    try {
      const file = path.join(workDirectory, `dd-${process.pid}.tmp`);
      const args = ['if=/dev/zero', `of=${file}`, 'bs=8M', 'count=32', ...(fsync ? ['conv=fsync'] : [])];
      const out = execFileSync('sh', ['-c', `dd ${args.join(' ')} 2>&1; rm -f ${file}; sync`], { encoding: 'utf8' });
      return parseDd(out);
    } catch {
      return undefined;
    }
  };
  const measure = (fsync) => {
    const runs = [once(fsync), once(fsync), once(fsync)].filter((v) => v !== undefined).sort((a, b) => a - b);
    return runs.length ? { median: runs[Math.floor(runs.length / 2)], min: runs[0], max: runs[runs.length - 1] } : undefined;
  };
  // Which code was measured: the report shows it under each scenario (results are committed one
  // scenario at a time, from different commits).
  const repo = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
  const commit = sh('git', ['-C', repo, 'rev-parse', '--short=12', 'HEAD']);
  const dirty = commit !== undefined && Boolean(sh('git', ['-C', repo, 'status', '--porcelain', '--untracked-files=no']));
  return {
    ...(commit ? { commit, dirty } : {}),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: os.release(),
    disk: {
      device: source,
      filesystem: fstype,
      kind: driver ?? 'unknown',
      rotationalFlag: rotational,
      model,
      ddWriteMBps256MiB: measure(false),
      ddWriteFsyncMBps256MiB: measure(true),
    },
  };
}
