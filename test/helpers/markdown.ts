import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Fenced code blocks of the project's Markdown, so tests can load or run what the docs show.
 * A block's `marker` is the HTML comment on the line right before its fence
 * (`<!-- yaml: endpoint -->` gives "yaml: endpoint"), if there is one.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CodeBlock {
  /** Repository-relative file and the line of the opening fence, e.g. `README.md:95`. */
  where: string;
  lang: string;
  marker: string | undefined;
  code: string;
}

/** README.md, docs/*.md and examples/ ** /*.md. */
export function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string) => {
    for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      const rel = path.join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== 'node_modules') walk(rel);
      else if (entry.isFile() && entry.name.endsWith('.md')) files.push(rel);
    }
  };
  walk('docs');
  walk('examples');
  return files;
}

export function codeBlocks(file: string): CodeBlock[] {
  const lines = readFileSync(path.join(ROOT, file), 'utf8').split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*$/.exec(lines[i] ?? '');
    if (!open) continue;
    const indent = open[1] ?? '';
    const body: string[] = [];
    let end = i + 1;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] ?? '')) body.push(lines[end++] ?? '');
    const before = (lines[i - 1] ?? '').trim();
    const marker = /^<!--\s*(.*?)\s*-->$/.exec(before)?.[1];
    blocks.push({
      where: `${file}:${i + 1}`,
      lang: open[2] ?? '',
      marker,
      code: body.map((line) => (line.startsWith(indent) ? line.slice(indent.length) : line)).join('\n'),
    });
    i = end;
  }
  return blocks;
}

/**
 * The code of the one block marked `<!-- tested: NAME (...) -->` in README.md or docs/, wherever
 * it lives, so a snippet that moves between pages stays tested (and a copy would be caught).
 */
export function testedSnippet(name: string): string {
  const files = markdownFiles().filter((file) => !file.startsWith('examples'));
  const blocks = files.flatMap(codeBlocks).filter((b) => b.marker?.startsWith(`tested: ${name} `));
  if (blocks.length !== 1) throw new Error(`expected one block marked "tested: ${name}" in README.md and docs/, found ${blocks.length}`);
  return blocks[0]!.code;
}
