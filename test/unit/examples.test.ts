import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { buildApp } from '../../src/index.js';

const dir = new URL('../../examples/config/', import.meta.url).pathname;

describe('examples/config', () => {
  const files = readdirSync(dir).filter((f) => /\.(ya?ml|json)$/.test(f));

  it('has examples', () => {
    expect(files.length).toBeGreaterThanOrEqual(2);
  });

  it.each(files)('%s is a valid config that builds an app', async (file) => {
    // s3.yaml reads its bearer tokens from the environment at startup.
    process.env.TUSPORT_UPLOAD_TOKENS ??= 'alice:a-token-of-at-least-16-chars';
    const config = loadConfig({ file: path.join(dir, file), env: {} });
    expect(config.endpoints.length).toBeGreaterThan(0);
    const app = buildApp(config, { logger: (await import('pino')).default({ level: 'silent' }) });
    await app.ready();
    expect(app.printRoutes()).toContain('healthz');
    await app.close();
  });
});
