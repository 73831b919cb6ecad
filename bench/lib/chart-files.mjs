// Render every chart of every result in a results directory to <dir>/<result-id>-<chart-id>.svg,
// and delete the SVGs there that no result names any more (a renamed chart leaves no orphan).
import fs from 'node:fs';
import path from 'node:path';
import { chartFile, chartsOf, readResults } from './chart-data.mjs';
import { renderChart } from './charts.mjs';

export async function writeChartFiles(resultsDir, dir) {
  fs.mkdirSync(dir, { recursive: true });
  const written = new Set();
  for (const result of readResults(resultsDir)) {
    for (const chart of chartsOf(result)) {
      const name = path.basename(chartFile(result, chart));
      try {
        fs.writeFileSync(path.join(dir, name), await renderChart(chart));
        written.add(name);
      } catch (error) {
        // One malformed chart must not cost the others (nor the tables): say which and go on.
        console.warn(`chart ${name} not rendered: ${error.message}`);
      }
    }
  }
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.svg') && !written.has(name)) fs.rmSync(path.join(dir, name));
  return [...written];
}
