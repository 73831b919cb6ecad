import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { resolveConfig } from '../../src/config/load.js';
import { configReferenceDocument, REFERENCE_FILE } from '../../src/config/reference.js';
import { codeBlocks, markdownFiles } from '../helpers/markdown.js';

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

describe('README', () => {
  const readme = read('README.md');

  it('links the config reference, which is generated from the schema (run `npm run docs:config`)', () => {
    expect(read(REFERENCE_FILE)).toBe(configReferenceDocument());
    expect(readme).toContain('](docs/configuration.md)');
  });

  it('shows the two quick-start commands', () => {
    expect(readme).toContain('npm ci && npm start');
    expect(readme).toContain('npm ci && npm test');
  });

  it('.ci/run runs the README test command', () => {
    expect(readFileSync(new URL('../../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test( |$)/m);
  });
});

/**
 * Every ```yaml block of the README, docs/ and examples/ parses (as `tusport serve` reads a
 * config: duplicate keys are errors) and, unless marked otherwise, is a complete config that
 * tusport's schema accepts. The marker is an HTML comment on the line before the fence:
 * - none: a whole config file;
 * - `<!-- yaml: endpoint -->`: one entry of `endpoints` (validated inside `endpoints: [...]`);
 * - `<!-- yaml: not a tusport config (...) -->`: another program's YAML (compose, CI): parsed only.
 */
describe('YAML in the docs', () => {
  const blocks = markdownFiles().flatMap(codeBlocks).filter((block) => /^ya?ml$/.test(block.lang));

  it('finds the blocks (the README has several)', () => {
    expect(blocks.filter((b) => b.where.startsWith('README.md:')).length).toBeGreaterThanOrEqual(4);
  });

  it.each(blocks.map((block) => [block.where, block] as const))('%s parses and validates', (_where, block) => {
    const parsed: unknown = YAML.parse(block.code, { uniqueKeys: true });
    const marker = block.marker?.startsWith('yaml:') ? block.marker.slice('yaml:'.length).trim() : undefined;
    if (marker?.startsWith('not a tusport config')) return;
    if (marker === 'endpoint') {
      expect(() => resolveConfig({ endpoints: [parsed] }, block.where)).not.toThrow();
      return;
    }
    expect(marker, 'unknown yaml marker').toBeUndefined();
    expect(() => resolveConfig(parsed, block.where)).not.toThrow();
  });

  it('a block with { } inside a flow mapping is caught (the mistake the README once had)', () => {
    expect(() => YAML.parse('store: { type: disk, directory: ./data/users/{username} }', { uniqueKeys: true })).toThrow();
  });
});
