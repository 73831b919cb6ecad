// Regenerate docs/BENCHMARKS.md's tables and the charts in docs/bench/ from bench/results/*.json
// alone, without running anything: `npm run bench:report`. BENCH_RESULTS_DIR and BENCH_DOCS as for
// `npm run bench`.
import path from 'node:path';
import { benchContext } from './lib/context.mjs';
import { writeDocs } from './lib/report.mjs';
import { ROOT } from './lib/servers.mjs';

const ctx = benchContext();
if (!ctx.docs) throw new Error('BENCH_DOCS=0: nothing to regenerate');
await writeDocs(ctx.resultsDir, ctx.docs);
console.log(`regenerated ${path.relative(ROOT, ctx.docs)} and its charts from ${path.relative(ROOT, ctx.resultsDir) || '.'}`);
