// Which machine, when and on which commit each result was measured. Results are committed one
// scenario at a time (`BENCH_ONLY=...`), so docs/BENCHMARKS.md mixes runs: the header lists every
// machine the results name (A, B, ...) and each scenario says which one, the date and the commit.

const dd = (m) => (m ? `${m.median} MB/s (${m.min}–${m.max})` : 'n/a');

/** Same hardware and software = same machine; the dd figures vary from run to run and are not part of it. */
const machineKey = (m) => JSON.stringify([m.nproc, m.cpu, m.memoryGiB, m.node, m.kernel, m.disk?.device, m.disk?.filesystem]);

/** Letters for the machines of `results` (oldest first), and the newest result of each. */
export function machinesOf(results) {
  const byKey = new Map();
  for (const r of [...results].sort((a, b) => (a.generated < b.generated ? -1 : 1))) {
    if (!r.machine) continue;
    const key = machineKey(r.machine);
    const entry = byKey.get(key) ?? { letter: String.fromCharCode(65 + byKey.size), newest: r, scenarios: [] };
    entry.newest = r;
    entry.scenarios.push(r.scenario);
    byKey.set(key, entry);
  }
  return { list: [...byKey.values()], letterOf: (r) => (r.machine ? byKey.get(machineKey(r.machine))?.letter : undefined) };
}

/** The header: one column per machine. */
export function machineHeaderLines(machines) {
  const cols = machines.list;
  const row = (name, cell) => `| ${name} | ${cols.map((c) => cell(c.newest.machine)).join(' | ')} |`;
  const lines = [
    cols.length > 1
      ? `These results come from several runs on ${cols.length} machines (one scenario, or a few, at a time): each scenario below says which machine, when and on which commit. Ratios compare servers measured in the same run only.`
      : 'These results may come from several runs (one scenario, or a few, at a time): each scenario below says when and on which commit. Ratios compare servers measured in the same run only.',
    '',
    `| machine | ${cols.map((c) => c.letter).join(' | ')} |`,
    `| --- | ${cols.map(() => '---').join(' | ')} |`,
    row('CPU', (m) => `${m.nproc} × ${m.cpu} (nproc ${m.nproc}), shared and noisy`),
    row('memory', (m) => `${m.memoryGiB} GiB`),
    row('Node', (m) => `${m.node} (kernel ${m.kernel})`),
    row('disk', (m) => `${m.disk.device} (${m.disk.kind}), ${m.disk.filesystem}`),
    row('dd, 256 MiB, no fsync (newest run)', (m) => dd(m.disk.ddWriteMBps256MiB)),
    row('dd, 256 MiB, conv=fsync (newest run)', (m) => dd(m.disk.ddWriteFsyncMBps256MiB)),
    `| scenarios | ${cols.map((c) => c.scenarios.map((s) => `\`${s}\``).join(', ')).join(' | ')} |`,
  ];
  lines.push('', 'dd: sequential write with dd, median of 3 (min–max), in MB/s; fsync throughput varies a lot from run to run on this VM.');
  return lines;
}

/** One line under a scenario: machine, date, commit. */
export function provenanceLine(result, machines) {
  const when = result.generated ? `${result.generated.slice(0, 16).replace('T', ' ')} UTC` : 'date not recorded';
  const commit = result.machine?.commit ? `commit \`${result.machine.commit}\`${result.machine.dirty ? ' with uncommitted changes' : ''}` : 'commit not recorded (before the runner recorded it)';
  const letter = machines.letterOf(result);
  return `*Measured ${when} on machine ${letter ?? '?'}, ${commit}.*`;
}
