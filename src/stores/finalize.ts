import fs from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { placeholdersOf } from '../endpoints/template.js';
import { sanitizeFilename, sanitizeSegment, splitExtension } from '../policy/filename.js';
import { exists, ifExists, inside, walkParents } from './confine.js';
import { FinalizeErrors } from './finalize-errors.js';
import { OWN_ID_SIDECAR_NAME, readSidecar, type Sidecar, sidecarPath, syncDirectory, tempPathFor, writeSidecar, writeTempSidecar } from './sidecar.js';

/**
 * Finalize: once an upload is complete its bytes move (a rename within the store) to a path
 * rendered from the endpoint's `finalize.path`, with a sidecar beside it, and the upload's own
 * sidecar records `tusport.final_path` (relative to the store directory, `/`-separated) so the
 * upload URL still finds the file.
 */

export const BUILTIN_PLACEHOLDERS = ['id', 'yyyy', 'mm', 'dd', 'filename', 'stem', 'ext'] as const;
const PLACEHOLDER = /\{([^{}]*)\}/g;
/** Per segment; leaves room for ` (1000)`, `.json` and writeSidecar's `.<12 hex>.tmp` in NAME_MAX. */
const SEGMENT_MAX_BYTES = 200;
const MAX_RENAME_ATTEMPTS = 1000;
// biome-ignore lint: control characters are exactly what we reject
const RESERVED = /[<>:"\\|?*\u0000-\u001f\u007f]/;

export const FinalizeSchema = z
  .strictObject({
    path: z.string({ error: 'expected a relative path template such as "{username}/{yyyy}/{id}-{filename}"' }).min(1).meta({
      description: 'Where a finished upload is moved, relative to the store directory. Placeholders: the URL template\'s params, `{id}`, `{yyyy}` `{mm}` `{dd}` (UTC completion date), `{filename}` (the client\'s name, sanitised; the id when absent), `{stem}`, `{ext}`.',
    }),
    overwrite: z
      .union([z.boolean(), z.literal('rename')], { error: 'expected false, true or "rename"' })
      .default(false)
      .meta({
        description: '`false`: a taken name is refused (409 `TUSPORT_ERR_FINAL_PATH_TAKEN`). `"rename"`: try `name (1).ext`, `name (2).ext`... `true`: replace an earlier finalized file at that path (never other files).',
      }),
  })
  .meta({ description: 'Move each finished upload to a templated path inside its store, with a sidecar beside it.' });

export type FinalizeConfig = z.output<typeof FinalizeSchema>;
export type OverwriteMode = FinalizeConfig['overwrite'];
export type FinalizedSidecar = Sidecar & { tusport: Sidecar['tusport'] & { final_path: string } };

/** Why a `finalize.path` template is unusable (for a config message naming the key), or undefined. */
export function checkFinalizeTemplate(template: string, templateParams: readonly string[]): string | undefined {
  if (template.trim() === '') return 'must not be empty';
  if (template.startsWith('/') || /^[A-Za-z]:/.test(template)) return 'must be relative to the store directory (no leading "/" or drive letter)';
  if (template.includes('\\')) return 'must separate directories with "/", not "\\"';
  if (/[{}]/.test(template.replace(PLACEHOLDER, ''))) return 'has an unbalanced "{" or "}"';
  for (const segment of template.split('/')) {
    if (segment === '') return 'must not contain empty segments ("//") or end with "/"';
    if (segment === '.' || segment === '..') return 'must not contain "." or ".." segments';
    if (RESERVED.test(segment.replace(PLACEHOLDER, ''))) return `segment "${segment}" has characters not allowed in file names (<>:"|?* or controls)`;
  }
  const builtins: readonly string[] = BUILTIN_PLACEHOLDERS;
  for (const name of placeholdersOf(template)) {
    if (builtins.includes(name) && templateParams.includes(name)) return `uses {${name}}, which is both a built-in placeholder and a URL param: rename the param`;
    if (!builtins.includes(name) && !templateParams.includes(name)) {
      const params = templateParams.map((p) => `{${p}}`).join(', ') || 'none';
      return `uses {${name}}, which is neither a built-in (${builtins.map((b) => `{${b}}`).join(', ')}) nor a URL param (the endpoint has: ${params})`;
    }
  }
  return undefined;
}

export interface FinalPathVars {
  params: Record<string, string>;
  id: string;
  filename?: string | null | undefined;
  now: Date;
}

/** Render a checked template into a safe relative path: every value and segment sanitised. */
export function renderFinalPath(template: string, vars: FinalPathVars): string {
  const problem = checkFinalizeTemplate(template, Object.keys(vars.params));
  if (problem) throw new FinalizeErrors.FINAL_PATH_UNSAFE(JSON.stringify(template), problem);
  const plain = (value: string) => sanitizeSegment(value, { maxBytes: SEGMENT_MAX_BYTES, keepExtension: false, fallback: '_' });
  const id = plain(vars.id);
  // Without a client name the id stands in: unique, so `overwrite: false` does not collide on "upload".
  const filename = typeof vars.filename === 'string' && vars.filename !== '' ? sanitizeFilename(vars.filename, SEGMENT_MAX_BYTES) : id;
  const { stem, ext } = splitExtension(filename);
  const values: Record<string, string> = {
    ...Object.fromEntries(Object.entries(vars.params).map(([name, value]) => [name, plain(value)])),
    id,
    yyyy: String(vars.now.getUTCFullYear()).padStart(4, '0'),
    mm: String(vars.now.getUTCMonth() + 1).padStart(2, '0'),
    dd: String(vars.now.getUTCDate()).padStart(2, '0'),
    filename,
    stem,
    ext,
  };
  const rendered = template
    .split('/')
    .map((segment) => safeSegment(segment.replace(PLACEHOLDER, (_, name: string) => values[name] ?? '')))
    .join('/');
  const invalid = checkRelative(rendered);
  if (invalid) throw new FinalizeErrors.FINAL_PATH_UNSAFE(JSON.stringify(rendered), invalid);
  return rendered;
}

/**
 * One rendered segment, sanitised as a whole (values next to static text can still form `CON` or
 * end in a dot), then kept from looking like tusport's own files: the sweep deletes `*.tmp`, and a
 * user file named `<32 hex>.json` (ids before 2026-11-30) or `<44 hex>.json` (ids since) would read
 * as an upload's sidecar.
 */
function safeSegment(segment: string): string {
  const clean = sanitizeSegment(segment, { maxBytes: SEGMENT_MAX_BYTES, keepExtension: true, fallback: '_' });
  if (OWN_ID_SIDECAR_NAME.test(clean)) return `_${clean}`;
  if (/\.tmp$/i.test(clean)) return `${clean}_`;
  return clean;
}

export interface FinalizeInput {
  /** The endpoint's resolved store directory for this upload (where `dataPath` lives). */
  root: string;
  dataPath: string;
  /** The upload's current sidecar; written back with `tusport.final_path`. */
  sidecar: Sidecar;
  /** From `renderFinalPath`. */
  relativePath: string;
  overwrite: OverwriteMode;
}

export interface FinalizeResult {
  finalPath: string; // absolute: the file now holding the upload's bytes
  relativePath: string; // the same relative to the (real) root: what `tusport.final_path` records
}

/**
 * Move a finished upload's data to `relativePath` inside `root`. Crash-safe ordering: the bytes
 * are hard-linked into place first (reachable from both names), then both sidecars are written,
 * and only then is the original name unlinked.
 */
export async function finalizeOnDisk(input: FinalizeInput): Promise<FinalizeResult> {
  const { root, dataPath, sidecar, relativePath, overwrite } = input;
  const invalid = checkRelative(relativePath);
  if (invalid) throw new FinalizeErrors.FINAL_PATH_UNSAFE(JSON.stringify(relativePath), invalid);
  const realRoot = await fs.realpath(root);
  const realData = path.join(await fs.realpath(path.dirname(dataPath)), path.basename(dataPath));
  if (!inside(realRoot, realData)) throw new FinalizeErrors.FINAL_PATH_UNSAFE(dataPath, 'the upload is not inside the store root');
  const walked = await walkParents(realRoot, path.posix.dirname(relativePath), true, unsafeFinalPath(relativePath));
  // 'missing' cannot happen when creating; a file where a directory should be is a clash.
  if (walked === 'blocked' || walked === 'missing') throw new FinalizeErrors.FINAL_PATH_TAKEN(JSON.stringify(relativePath));
  const base = path.posix.basename(relativePath);
  const target = path.join(walked, base);
  const recorded = (file: string) => path.relative(realRoot, file).split(path.sep).join('/');
  if (target === realData) {
    // `{id}` straight into the store directory: already in place, only record it.
    await writeSidecar(sidecarPath(realData), withFinalPath(sidecar, recorded(target)));
    return { finalPath: target, relativePath: recorded(target) };
  }
  let placed: string | undefined;
  if (overwrite === true) {
    placed = await withPathLock(target, () => placeReplacing(target, realData, sidecar, recorded(target)));
  } else {
    const attempts = overwrite === 'rename' ? MAX_RENAME_ATTEMPTS : 0;
    for (let n = 0; n <= attempts && !placed; n++) {
      const candidate = path.join(walked, n === 0 ? base : numbered(base, n));
      if (await claim(candidate, realData, withFinalPath(sidecar, recorded(candidate)))) placed = candidate;
    }
  }
  if (!placed) throw new FinalizeErrors.FINAL_PATH_TAKEN(JSON.stringify(relativePath));
  await syncDirectory(walked);
  await writeSidecar(sidecarPath(realData), withFinalPath(sidecar, recorded(placed)));
  await fs.unlink(realData);
  await syncDirectory(path.dirname(realData));
  return { finalPath: placed, relativePath: recorded(placed) };
}

/** Whether `relativePath` (or its sidecar name) is already used: refuse a clash at creation time. */
export async function finalPathTaken(root: string, relativePath: string): Promise<boolean> {
  const invalid = checkRelative(relativePath);
  if (invalid) throw new FinalizeErrors.FINAL_PATH_UNSAFE(JSON.stringify(relativePath), invalid);
  const realRoot = await ifExists(fs.realpath(root));
  if (!realRoot) return false;
  const walked = await walkParents(realRoot, path.posix.dirname(relativePath), false, unsafeFinalPath(relativePath));
  if (walked === 'missing' || walked === 'blocked') return walked === 'blocked';
  const target = path.join(walked, path.posix.basename(relativePath));
  return (await exists(target)) || (await exists(sidecarPath(target)));
}

/**
 * A recorded `final_path` as an absolute file inside `root`, or undefined if missing or unsafe
 * (sidecars are files on disk: never follow one out of the store). With `expectedId`, the sidecar
 * beside the file must still name that upload (`overwrite: true` may have replaced the file since).
 */
export async function resolveFinalPath(root: string, finalPath: unknown, expectedId?: string): Promise<string | undefined> {
  if (typeof finalPath !== 'string' || checkRelative(finalPath)) return undefined;
  const realRoot = await ifExists(fs.realpath(root));
  if (!realRoot) return undefined;
  const real = await ifExists(fs.realpath(path.join(realRoot, finalPath)));
  if (!real || !inside(realRoot, real) || real === realRoot) return undefined;
  if (expectedId !== undefined && (await readSidecar(sidecarPath(real)).catch(() => undefined))?.id !== expectedId) return undefined;
  return real;
}

/** The `final_path` a sidecar read from disk records, if it is a string. */
export function finalPathOf(sidecar: Sidecar | undefined): string | undefined {
  const value: unknown = sidecar?.tusport.final_path;
  return typeof value === 'string' ? value : undefined;
}

function withFinalPath(sidecar: Sidecar, finalPath: string): FinalizedSidecar {
  return { ...sidecar, tusport: { ...sidecar.tusport, final_path: finalPath } };
}

/**
 * Take `target` and `target.json` without ever replacing anything: `link` fails with EEXIST
 * atomically, so of several finalizations racing for one name exactly one gets it. The sidecar
 * name is claimed first so a user file called `x.json` is never clobbered by the sidecar of `x`.
 */
async function claim(target: string, data: string, finalSidecar: FinalizedSidecar): Promise<boolean> {
  const sidecarFile = sidecarPath(target);
  if (await placedBefore(target, data, finalSidecar.id)) return true;
  if ((await exists(target)) || (await exists(sidecarFile))) return false;
  const temp = await writeTempSidecar(sidecarFile, finalSidecar);
  try {
    if (!(await linkExclusive(temp, sidecarFile))) return false;
    if (await linkExclusive(data, target)) return true;
    await fs.rm(sidecarFile, { force: true });
    return false;
  } finally {
    await fs.rm(temp, { force: true });
  }
}

/**
 * An earlier finalization of this very upload took `target` and then failed (its upload sidecar
 * could not be written, say): the same file, with a sidecar naming the upload. Retrying finishes
 * that move instead of calling the name taken.
 */
async function placedBefore(target: string, data: string, id: string): Promise<boolean> {
  const [atTarget, atData] = await Promise.all([ifExists(fs.lstat(target)), ifExists(fs.lstat(data))]);
  if (!atTarget || !atData || atTarget.ino !== atData.ino || atTarget.dev !== atData.dev) return false;
  return (await readSidecar(sidecarPath(target)).catch(() => undefined))?.id === id;
}

/** `overwrite: true`: atomic replace, but only of an earlier finalization at this very path. */
async function placeReplacing(target: string, data: string, sidecar: Sidecar, recorded: string): Promise<string> {
  const [stats, sidecarStats] = await Promise.all([ifExists(fs.lstat(target)), ifExists(fs.lstat(sidecarPath(target)))]);
  const replaceable =
    (!stats && !sidecarStats) ||
    ((!stats || stats.isFile()) && sidecarStats?.isFile() === true && finalPathOf(await readSidecar(sidecarPath(target))) === recorded);
  if (!replaceable) throw new FinalizeErrors.FINAL_PATH_TAKEN(JSON.stringify(recorded));
  const temp = tempPathFor(target);
  await fs.link(data, temp);
  try {
    await writeSidecar(sidecarPath(target), withFinalPath(sidecar, recorded));
    await fs.rename(temp, target);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  return target;
}

function unsafeFinalPath(relativePath: string) {
  return (segment: string, why: string) => new FinalizeErrors.FINAL_PATH_UNSAFE(JSON.stringify(path.posix.dirname(relativePath)), `"${segment}" ${why}`);
}

/** A normalised relative path: no absolute form, backslash, NUL, empty, `.` or `..` segments. */
function checkRelative(relative: string): string | undefined {
  if (relative === '') return 'is empty';
  if (path.posix.isAbsolute(relative) || path.win32.isAbsolute(relative)) return 'is absolute';
  if (/[\\\0]/.test(relative)) return 'contains "\\" or NUL';
  if (relative.split('/').some((s) => s === '' || s === '.' || s === '..')) return 'has an empty, "." or ".." segment';
  return undefined;
}

/** The numbered variant of a `/`-separated key's last segment: `a/report.pdf` → `a/report (2).pdf`. */
export function numberedName(key: string, n: number): string {
  const slash = key.lastIndexOf('/');
  return key.slice(0, slash + 1) + numbered(key.slice(slash + 1), n);
}

/** `report.pdf` → `report (2).pdf`; keeps the extension's case as given. */
function numbered(base: string, n: number): string {
  const { ext } = splitExtension(base);
  const stem = ext ? base.slice(0, base.length - ext.length - 1) : base;
  return `${stem} (${n})${ext ? base.slice(stem.length) : ''}`;
}

/** Create `destination` as another name of `source`; false when the name is taken (atomic). */
function linkExclusive(source: string, destination: string): Promise<boolean> {
  return fs.link(source, destination).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') return false;
      throw error;
    },
  );
}

/** `overwrite: true` checks then replaces; serialise that per path within this process. */
const pathLocks = new Map<string, Promise<unknown>>();
async function withPathLock<T>(key: string, task: () => Promise<T>): Promise<T> {
  // The stored tail never rejects, so each task starts once the previous one has settled.
  const run = (pathLocks.get(key) ?? Promise.resolve()).then(task);
  const tail = run.catch(() => undefined);
  pathLocks.set(key, tail);
  try {
    return await run;
  } finally {
    if (pathLocks.get(key) === tail) pathLocks.delete(key);
  }
}
