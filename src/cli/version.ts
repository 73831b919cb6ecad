import { readFileSync } from 'node:fs';

/**
 * The version of the installed package, read from its package.json: one number to bump, and
 * `tusport --version` tells what is installed whether it runs from a checkout (src/ or dist/) or
 * from node_modules. Both src/cli/ and dist/cli/ sit two levels below the package root.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  if (typeof manifest.version !== 'string') throw new Error('package.json has no version');
  return manifest.version;
}
