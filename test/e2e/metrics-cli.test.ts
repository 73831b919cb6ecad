import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { killAll, run, start } from '../helpers/cli.js';
import { scrape } from '../helpers/metrics.js';
import { tempDir } from '../helpers/server.js';
import { tusUpload } from '../helpers/tus-client.js';

let scratch: Awaited<ReturnType<typeof tempDir>>;
beforeEach(async () => {
  scratch = await tempDir('tusport-metrics-cli-');
});
afterEach(async () => {
  await killAll();
  await scratch.remove();
});
afterAll(killAll);

describe('tusport serve with metrics on', () => {
  it('logs where the metrics are; a scrape there sees the upload just made', async () => {
    const config = path.join(scratch.dir, 'tusport.yaml');
    await writeFile(config, 'metrics:\n  enabled: true\n  port: 0\n');
    const server = await start(['serve', '--config', config, '--port', '0'], scratch.dir);
    const metricsUrl = /Prometheus metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(server.output.stdout)?.[1];
    expect(metricsUrl).toBeDefined();
    const data = Buffer.alloc(12_345, 7);
    await tusUpload(data, { endpoint: `${server.url}/files` });
    const scraped = await scrape(metricsUrl!);
    expect(scraped.value('tusport_uploads_finished')).toBe(1);
    expect(scraped.value('tusport_bytes_received')).toBe(data.length);
    server.child.kill('SIGTERM');
    expect((await server.exited).code).toBe(0);
  });

  it('exits 1 naming the metrics listener when its port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    try {
      const port = (blocker.address() as net.AddressInfo).port;
      const result = await run(['serve', '--port', '0', '--no-demo'], scratch.dir, { TUSPORT__METRICS__ENABLED: 'true', TUSPORT__METRICS__PORT: String(port) }, 60_000);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`Cannot listen for metrics on 127.0.0.1:${port}: the address is already in use`);
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
