// Form uploads and the files API (issue 15), two scenarios of `npm run bench`
// (`npm run bench:forms` runs only these two):
//
// 1. form-upload: one BENCH_SIZE_MB (default 1024) MiB file posted by `curl -F` as
//    multipart/form-data, against the same file in one tus PATCH by `curl -T`, alternating
//    (BENCH_PAIRS rounds). Reported: time, the form/tus time ratio per pair, and the
//    server's peak RSS (VmHWM, reset before each run) — the target is < 100 MiB for 1 GiB.
// 2. files-list: BENCH_LIST_UPLOADS (default 10,000) finished uploads in one disk store, listed
//    page by page (`GET /files?limit=50`, following `next`): every page's time, first call after a
//    restart (nothing cached) and again. Two stores: all uploads the caller's, and the caller
//    owning one in ten (the others another user's, so pages skip nine of ten). The same two on S3
//    (Ceph RGW, bench/lib/files-list-s3.mjs) unless BENCH_S3=0.
//
// Results: bench/results/form-upload.json and files-list.json (BENCH_RESULTS_DIR).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { memory, resetPeakRss, run, runNodeClient } from './proc.mjs';
import { sharedCluster } from './ceph.mjs';
import { measureS3Layouts } from './files-list-s3.mjs';
import { rssChart, sampleRss } from './rss-timeline.mjs';
import { emptyDirectory, ROOT, startVariant } from './servers.mjs';
import { median, round, summary } from './stats.mjs';

export const FORM_SCENARIOS = ['form-upload', 'files-list'];

const ALICE = 'alice-token-for-the-forms-bench-01';
const BOB = 'bob-token-for-the-forms-bench-0002';
async function sha256File(file) {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 4 * 2 ** 20 })) hash.update(chunk);
  return hash.digest('hex');
}

/** `curl -F file=@input` to the endpoint: seconds (curl's time_total) and the stored upload's id. */
function curlForm(url, file) {
  return new Promise((resolve, reject) => {
    const child = spawn('curl', ['-sS', '-H', 'Expect:', '-F', `file=@${file}`, '-o', '-', '-w', '\n%{http_code} %{time_total}', url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.once('error', reject);
    child.once('close', () => {
      const [body, tail] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
      const [status, seconds] = tail.split(' ');
      if (status !== '201') return reject(new Error(`form upload: ${status} ${body} ${err}`));
      resolve({ seconds: Number(seconds), id: JSON.parse(body).id });
    });
  });
}

async function formUpload({ ctx, machine, work, log }) {
  const pairs = ctx.pairs;
  const dir = path.join(work, 'data', 'tusport');
  const samples = { form: [], tus: [] };
  // A fresh server for every run: V8 keeps the heap it grew, so a second run's peak would start from the first's.
  const measure = async (kind, verify) => {
    const server = await startVariant('tusport', work, { endpoints: [{ path: '/files', store: { type: 'disk', directory: dir }, form: true }] });
    try {
      const idleRssMiB = memory(server.pid).rss / 2 ** 20;
      resetPeakRss(server.pid);
      const sampler = sampleRss(server.pid);
      let seconds;
      let id;
      if (kind === 'form') ({ seconds, id } = await curlForm(server.url, ctx.inputFile));
      else {
        const out = await runNodeClient(path.join(ROOT, 'bench', 'clients', 'curl-single.mjs'), ['--url', server.url, '--file', ctx.inputFile]);
        seconds = out.ms / 1000;
        id = out.url.split('/').pop();
      }
      const timeline = sampler.stop();
      const peakRssMiB = memory(server.pid).peakRss / 2 ** 20;
      const stored = path.join(dir, id);
      if (fs.statSync(stored).size !== ctx.sizeBytes) throw new Error(`${kind}: stored ${fs.statSync(stored).size} bytes`);
      if (verify && (await sha256File(stored)) !== ctx.inputHash) throw new Error(`${kind}: stored bytes differ from the input`);
      return { seconds, peakRssMiB, idleRssMiB, growthMiB: peakRssMiB - idleRssMiB, timeline };
    } finally {
      await server.stop();
      emptyDirectory(dir);
      await run('sync', []);
    }
  };
  log(`\n== form-upload: ${ctx.sizeBytes / 2 ** 20} MiB, ${pairs} pairs`);
  await measure('form', true);
  await measure('tus', true);
  for (let i = 1; i <= pairs; i++) {
    for (const kind of ['form', 'tus']) {
      const s = await measure(kind, false);
      samples[kind].push(s);
      log(`  #${i} ${kind.padEnd(4)} ${s.seconds.toFixed(3)} s  peak RSS ${s.peakRssMiB.toFixed(1)} MiB (idle ${s.idleRssMiB.toFixed(1)}, +${s.growthMiB.toFixed(1)})`);
    }
  }
  const stat = (list, key) => ({ median: round(median(list.map((s) => s[key])), 1), max: round(Math.max(...list.map((s) => s[key])), 1) });
  const variant = (list) => ({ seconds: summary(list.map((s) => s.seconds)), peakRssMiB: stat(list, 'peakRssMiB'), idleRssMiB: stat(list, 'idleRssMiB'), growthMiB: stat(list, 'growthMiB') });
  const ratios = samples.form.map((s, i) => s.seconds / samples.tus[i].seconds);
  // The run whose time is the median of its kind, so the picture is a typical run, not the luckiest.
  const typical = (list) => [...list].sort((a, b) => a.seconds - b.seconds)[Math.floor((list.length - 1) / 2)].timeline;
  return {
    scenario: 'form-upload',
    kind: 'form-upload',
    title: `${ctx.sizeBytes / 2 ** 20} MiB by curl -F (multipart/form-data) vs the same in one tus PATCH (curl -T)`,
    method: 'A fresh `tusport serve` (one disk endpoint with form: true) per run; idle RSS read before, VmHWM reset, then the upload; peak = VmHWM after it. Time = curl time_total (tus: POST + PATCH). Runs alternate form, tus.',
    generated: new Date().toISOString(),
    machine,
    config: { sizeMiB: ctx.sizeBytes / 2 ** 20, pairs },
    variants: { form: variant(samples.form), tus: variant(samples.tus) },
    charts: [
      rssChart({
        title: `Server RSS during one ${ctx.sizeBytes / 2 ** 20} MiB upload (each kind's median run, sampled every 50 ms)`,
        timelines: { 'curl -F (multipart/form-data)': typical(samples.form), 'curl -T (one tus PATCH)': typical(samples.tus) },
      }),
    ],
    ratios: { 'form/tus': { perPairMedian: round(median(ratios), 3), min: round(Math.min(...ratios), 3), max: round(Math.max(...ratios), 3) } },
  };
}

/** Write `count` finished uploads' sidecars and data files straight into `dir`, as tusport lays them out. */
function seedStore(dir, count, ownerOf, newUploadId) {
  fs.mkdirSync(dir, { recursive: true });
  const now = Date.now();
  for (let i = 0; i < count; i++) {
    const created = now - (count - i) * 1000;
    const id = newUploadId(created);
    const sidecar = {
      id,
      size: 3,
      offset: 0,
      metadata: { filename: `f${i}.txt`, filetype: 'text/plain' },
      creation_date: new Date(created).toISOString(),
      tusport: { version: 1, endpoint: '/files', params: {}, owner: ownerOf(i), completed_at: new Date(created + 10).toISOString(), completion: 'notified' },
    };
    fs.writeFileSync(path.join(dir, id), 'abc');
    fs.writeFileSync(path.join(dir, `${id}.json`), JSON.stringify(sidecar));
  }
}

async function listAll(server, token) {
  const pages = [];
  let cursor = null;
  let count = 0;
  do {
    const started = performance.now();
    const response = await fetch(`${server.url}?limit=50${cursor ? `&cursor=${cursor}` : ''}`, { headers: { Authorization: `Bearer ${token}` } });
    const page = await response.json();
    pages.push(performance.now() - started);
    if (response.status !== 200) throw new Error(`list: ${response.status} ${JSON.stringify(page)}`);
    count += page.uploads.length;
    cursor = page.next;
  } while (cursor);
  return { pages, count };
}

async function filesList({ ctx, machine, work, log }) {
  const { newUploadId } = await import(path.join(ROOT, 'dist', 'uploads', 'ids.js'));
  // Read here, not when the module loads: BENCH_QUICK fills it in later.
  const listUploads = Number(process.env.BENCH_LIST_UPLOADS ?? 10_000);
  log(`\n== files-list: GET /files?limit=50 through ${listUploads} finished uploads`);
  const layouts = [
    { name: 'all-mine', ownerOf: () => 'alice', expected: listUploads },
    { name: 'one-in-ten-mine', ownerOf: (i) => (i % 10 === 0 ? 'alice' : 'bob'), expected: Math.ceil(listUploads / 10) },
  ];
  const auth = { type: 'bearer', tokens: [{ id: 'alice', token: ALICE }, { id: 'bob', token: BOB }] };
  /** A cold pass (first after start, nothing cached) and a warm one, through every page. */
  const measure = async (server, layout) => {
    const cold = await listAll(server, ALICE);
    const warm = await listAll(server, ALICE);
    for (const run of [cold, warm]) if (run.count !== layout.expected) throw new Error(`${layout.name}: listed ${run.count}, expected ${layout.expected}`);
    const describe = (r) => ({ pages: r.pages.length, firstPageMs: round(r.pages[0], 1), medianPageMs: round(median(r.pages), 1), maxPageMs: round(Math.max(...r.pages), 1), totalMs: round(r.pages.reduce((a, b) => a + b, 0), 0) });
    const result = { uploadsInStore: listUploads, listed: layout.expected, cold: describe(cold), warm: describe(warm) };
    log(`  ${layout.name}: ${JSON.stringify(result)}`);
    return result;
  };
  const results = {};
  for (const layout of layouts) {
    const dir = path.join(work, 'list', layout.name);
    seedStore(dir, listUploads, layout.ownerOf, newUploadId);
    const server = await startVariant('tusport', work, { endpoints: [{ path: '/files', store: { type: 'disk', directory: dir }, auth }] });
    try {
      results[layout.name] = await measure(server, layout);
    } finally {
      await server.stop();
    }
  }
  const s3 = await measureS3Layouts({ ctx, work, log, count: listUploads, layouts, auth, token: ALICE, newUploadId, measure });
  Object.assign(results, s3 ?? {});
  return {
    scenario: 'files-list',
    kind: 'files-list',
    title: `GET /files?limit=50 through ${listUploads} finished uploads on disk${s3 ? ' and S3' : ''}`,
    method: `Sidecars and data files written straight into the store (the layout tusport writes), then every page fetched in turn following \`next\`; cold = first pass after start (no sidecar cached), warm = the second pass.${s3 ? ` S3: one bucket per layout on Ceph RGW (${sharedCluster() ? "the test suite's shared cluster, beast's default Nagle setting: a small S3 answer can wait ~40 ms for a delayed ACK, shared with other work" : 'a private single-node cluster'}), filled by cloning the objects of one finished upload a real server made (data object and \`.info\` sidecar); a page is ListObjectsV2 from the cursor plus one GetObject per sidecar looked at, 32 at once.` : ''}`,
    generated: new Date().toISOString(),
    machine,
    results,
  };
}

/** Run the scenarios of `ids` (ctx.inputFile is the runner's input); calls onResult(result) for each. */
export async function runFormScenarios({ ctx, machine, work, ids, log, onResult }) {
  if (ids.includes('form-upload')) onResult(await formUpload({ ctx, machine, work, log }));
  if (ids.includes('files-list')) onResult(await filesList({ ctx, machine, work, log }));
}
