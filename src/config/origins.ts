/**
 * Where each config value came from, so an error names the culprit: a command-line flag, an
 * environment variable, the config file, or the built-in defaults. Precedence is flags, then
 * environment, then the file, then defaults; the most specific record wins (an environment
 * variable that sets `endpoints[0].maxSize` blames itself, not the file that has `endpoints`).
 */

type Segment = string | number;

export class ConfigOrigins {
  private readonly overrides = new Map<string, string>();

  constructor(
    /** The parsed config file, or undefined without one. */
    private readonly file: { path: string; raw: Record<string, unknown> } | undefined,
  ) {}

  /** A value set at `path` by an environment variable or a flag (a later call wins). */
  record(path: readonly Segment[], origin: string): void {
    this.overrides.set(key(path), origin);
  }

  recordIfAbsent(path: readonly Segment[], origin: string): void {
    if (!this.overrides.has(key(path))) this.record(path, origin);
  }

  /** Where the value at `path` (or, for a missing key, its nearest parent) came from. */
  originOf(path: readonly PropertyKey[]): string {
    const segments = path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
    for (let length = segments.length; length > 0; length--) {
      const prefix = segments.slice(0, length);
      const override = this.overrides.get(key(prefix));
      if (override) return override;
      if (this.file && has(this.file.raw, prefix)) return `config file ${this.file.path}`;
    }
    // Nothing set it: a default (or, for the top level itself, the file as a whole).
    return this.file && segments.length === 0 ? `config file ${this.file.path}` : 'the defaults';
  }
}

function key(path: readonly Segment[]): string {
  return JSON.stringify(path.map(String));
}

function has(root: unknown, path: readonly Segment[]): boolean {
  let node = root;
  for (const segment of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) return false;
    node = (node as Record<string, unknown>)[segment];
  }
  return true;
}
