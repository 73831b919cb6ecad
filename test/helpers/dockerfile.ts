import { readFileSync } from 'node:fs';
import path from 'node:path';
import { checkoutFiles } from './checkout.js';

/**
 * Just enough of Dockerfile and .dockerignore syntax to replay tusport's own Dockerfile without a
 * Docker engine (test/e2e/container.test.ts): line continuations, comments, `--flag=value`
 * options, exec (JSON) and shell forms, stages with names.
 */
export interface Instruction {
  keyword: string;
  /** `--from=build`, `--mount=...`, `--interval=30s`: name -> value. */
  flags: Record<string, string>;
  /** Everything after the keyword and its flags. */
  args: string;
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let current = lines[i]!.trim();
    if (current === '' || current.startsWith('#')) continue;
    // A trailing backslash continues the instruction; comment lines inside it are dropped.
    while (current.endsWith('\\') && i + 1 < lines.length) {
      current = current.slice(0, -1);
      const next = lines[++i]!.trim();
      if (!next.startsWith('#')) current += ` ${next}`;
    }
    const match = /^(\S+)\s*(.*)$/s.exec(current.trim());
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    let rest = match[2]!.trim();
    const flags: Record<string, string> = {};
    for (let flag = /^--([\w-]+)=(\S+)\s*/.exec(rest); flag; flag = /^--([\w-]+)=(\S+)\s*/.exec(rest)) {
      flags[flag[1]!] = flag[2]!;
      rest = rest.slice(flag[0].length);
    }
    const instruction = { keyword, flags, args: rest, line: first };
    if (keyword === 'FROM') {
      const [image, as, name] = rest.split(/\s+/);
      stages.push({ image: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      if (stages.length === 0) throw new Error(`Dockerfile line ${first}: ${keyword} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

/** The exec form `["node", "-e", "..."]` as an argv (the shell form is not used by tusport). */
export function execForm(args: string, line: number): string[] {
  if (!args.startsWith('[')) throw new Error(`Dockerfile line ${line}: expected the exec form ["program", "arg", ...], got: ${args}`);
  return JSON.parse(args) as string[];
}

/** `ENV A=1 B=2` (unquoted values, as tusport's Dockerfile writes them). */
export function envPairs(args: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of args.split(/\s+/).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`ENV: expected KEY=value, got ${pair}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!;
    if (char === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      source += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * The files `docker build` would send as context: this checkout's files (`checkoutFiles`) that
 * .dockerignore lets through. As in Docker, a pattern excludes a path when it matches the path or one of its
 * parent directories, `!` re-includes, and the last matching pattern wins.
 */
export function dockerContext(root: string): string[] {
  const rules = readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const negate = line.startsWith('!');
      const pattern = path.posix.normalize((negate ? line.slice(1) : line).replace(/^\/+/, ''));
      return { negate, re: globToRegExp(pattern) };
    });
  return checkoutFiles(root).filter((file) => {
    const segments = file.split('/');
    const candidates = segments.map((_, i) => segments.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) if (candidates.some((candidate) => rule.re.test(candidate))) excluded = !rule.negate;
    return !excluded;
  });
}
