import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { markdownFiles, ROOT } from '../helpers/markdown.js';

/**
 * The docs hold together: every relative link in README.md, docs/ and examples/ reaches a file
 * that exists and, with a `#fragment` into Markdown, a heading of that file; the README's
 * Reference list links every page of docs/; every `TUSPORT_ERR_*` code the docs name is one the
 * source defines. (The README was split into docs/ pages: a moved section must not leave links
 * or codes pointing at nothing.)
 */

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The text outside fenced code blocks and inline code spans, where links are links. */
function prose(markdown: string): string {
  return markdown
    .replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm, '')
    .replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchors: lowercase, punctuation dropped, spaces to `-`, repeats numbered. */
export function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  const withoutCode = markdown.replace(/^\s*```[^\n]*\n[\s\S]*?^\s*```\s*$/gm, '');
  for (const match of withoutCode.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const text = (match[1] ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Link {
  file: string;
  target: string;
}

function relativeLinks(file: string): Link[] {
  const links: Link[] = [];
  for (const match of prose(read(file)).matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = match[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto: ...
    links.push({ file, target });
  }
  return links;
}

/** Why a link does not resolve, or undefined when it does. */
function brokenReason({ file, target }: Link): string | undefined {
  const [rawPath = '', fragment] = target.split('#', 2);
  const linked = rawPath === '' ? file : path.normalize(path.join(path.dirname(file), decodeURIComponent(rawPath)));
  const absolute = path.join(ROOT, linked);
  if (linked.startsWith('..') || !existsSync(absolute)) return `${linked} does not exist`;
  if (fragment === undefined || fragment === '') return undefined;
  if (statSync(absolute).isDirectory() || !linked.endsWith('.md')) return `#${fragment} points into ${linked}, which is not Markdown`;
  return headingAnchors(read(linked)).has(fragment) ? undefined : `${linked} has no heading #${fragment}`;
}

describe('relative links in the docs', () => {
  const links = markdownFiles().flatMap(relativeLinks);

  it('finds the links (the README links every docs page)', () => {
    expect(links.filter((l) => l.file === 'README.md').length).toBeGreaterThanOrEqual(20);
  });

  it('every relative link reaches an existing file and heading', () => {
    const broken = links.flatMap((link) => {
      const reason = brokenReason(link);
      return reason ? [`${link.file}: (${link.target}): ${reason}`] : [];
    });
    expect(broken).toEqual([]);
  });

  it("the README's Reference lists every page of docs/", () => {
    const reference = read('README.md').split(/^## Reference\s*$/m)[1] ?? '';
    const pages = readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md'));
    const missing = pages.filter((page) => !reference.includes(`](docs/${page})`));
    expect(missing).toEqual([]);
  });

  it('the checker catches what it is for', () => {
    expect(headingAnchors('# As a fleet (S3 + Redis)\n## `tusport files`: the files API\n## X\n## X')).toEqual(
      new Set(['as-a-fleet-s3--redis', 'tusport-files-the-files-api', 'x', 'x-1']),
    );
    expect(brokenReason({ file: 'README.md', target: 'docs/no-such-page.md' })).toMatch(/does not exist/);
    expect(brokenReason({ file: 'README.md', target: 'docs/configuration.md#no-such-heading' })).toMatch(/no heading/);
    expect(brokenReason({ file: 'docs/cli.md', target: '../README.md#quick-start' })).toBeUndefined();
    expect(prose('see `[x](nowhere.md)` and\n```md\n[y](nowhere.md)\n```\n')).not.toContain('nowhere');
  });
});

describe('error codes in the docs', () => {
  it('every TUSPORT_ERR_* code named in README.md and docs/ is defined in src/', () => {
    const defined = new Set<string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        const rel = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(rel);
        else if (entry.name.endsWith('.ts')) for (const m of read(rel).matchAll(/['"`](TUSPORT_ERR_[A-Z0-9_]+)['"`]/g)) defined.add(m[1]!);
      }
    };
    walk('src');
    expect(defined.size).toBeGreaterThan(50);
    const named = markdownFiles()
      .filter((file) => !file.startsWith('examples'))
      .flatMap((file) => [...read(file).matchAll(/TUSPORT_ERR_[A-Z0-9_]+/g)].map((m) => ({ file, code: m[0] })));
    // `TUSPORT_ERR_HOOK_REJECTED` / `_STOPPED`: a shorthand the docs use; whole codes only.
    const unknown = named.filter(({ code }) => !defined.has(code) && !code.endsWith('_')).map(({ file, code }) => `${file}: ${code}`);
    expect(unknown).toEqual([]);
  });
});
