import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { readSmallFile } from './small-file.js';

/**
 * The JSON sidecar stored beside each upload's data. Its top-level fields are the ones
 * @tus/file-store writes (so its tools can still read it); tusport's own go under `tusport`.
 * The template params and the owner live here so an upload found by id alone, or by walking the
 * store, carries everything needed to place and authorize it.
 */
export interface Sidecar {
  id: string;
  /** Declared length; absent while the length is deferred. */
  size?: number | undefined;
  /** Always 0 on disk: the data file's size is the true offset (@tus/file-store convention). */
  offset: number;
  metadata?: Record<string, string | null> | undefined;
  creation_date: string;
  tusport: SidecarTusport;
}

export interface SidecarTusport {
  version: 1;
  /** The endpoint's URL template. */
  endpoint: string;
  /** The resolved template params. */
  params: Record<string, string>;
  /** Principal id of the creator; null for anonymous endpoints. */
  owner: string | null;
  /** Set once the last byte has been received and the upload was marked done. */
  completed_at?: string;
  /**
   * How far completion got (src/uploads/completion.ts): set with `completed_at`; absent on sidecars
   * written before completion had steps, which count as 'notified'.
   */
  completion?: CompletionStep;
  /** Types a signed upload token narrowed this upload to (checked against the bytes at finish). */
  accept?: string[];
  /** The `maxSize` of the signed upload token it was created under: every later request is held to it. */
  maxSize?: number;
  /**
   * Uploaded straight to S3 (src/protocols/s3-direct/): by the client's multipart upload, or by one
   * presigned POST (then the multipart upload at its key is only a marker, so listings, quotas and
   * the sweep see it like any unfinished upload).
   */
  direct?: 'multipart' | 'post';
  /** Where finalize moved the file, relative to the store directory, `/`-separated. */
  final_path?: string;
  /**
   * Concatenation (tus `Upload-Concat`, src/uploads/concat.ts): a partial upload, or a final upload
   * made of these partial uploads (ids, in order).
   */
  concat?: 'partial' | { final: string[] };
  /** On endpoints with `claim`: who claimed the upload and when (src/files/claim.ts). */
  claim?: ClaimRecord;
}

export interface ClaimRecord {
  /** The claiming principal's id; null for an anonymous endpoint or the app's own `app.tusport.claim()` without `by`. */
  by: string | null;
  /** ISO date. */
  at: string;
  /** The final path template the claim asked for (`claim.allowPath`), if any. */
  path?: string;
}

/**
 * The steps of completion, in order: bytes checked and recorded (`unclaimed` instead of `received`
 * on an endpoint with `claim`, until a claim moves it on); file moved; hooks told.
 */
export type CompletionStep = 'unclaimed' | 'received' | 'finalized' | 'notified';

export function sidecarPath(dataPath: string): string {
  return `${dataPath}.json`;
}

/**
 * Write the sidecar so that a crash leaves either the old or the new version, never a torn
 * file: write a temp file, fsync it, rename over the target, fsync the directory.
 */
export async function writeSidecar(file: string, sidecar: Sidecar): Promise<void> {
  const temp = await writeTempSidecar(file, sidecar);
  try {
    await fs.rename(temp, file);
  } catch (error) {
    await fs.rm(temp, { force: true });
    throw error;
  }
  await syncDirectory(path.dirname(file));
}

/**
 * Like `writeSidecar`, but never replaces an existing sidecar: false when `file` exists. Linking
 * the temp file into place fails atomically, so of two creations racing for one id exactly one wins.
 */
export async function writeNewSidecar(file: string, sidecar: Sidecar): Promise<boolean> {
  const temp = await writeTempSidecar(file, sidecar);
  try {
    await fs.link(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await fs.rm(temp, { force: true });
  }
  await syncDirectory(path.dirname(file));
  return true;
}

/**
 * tusport's own temp files: `<target>.<12 hex>.tmp`, always regular files. The sweep removes old
 * ones as crash debris, so nothing a client names may ever have this shape as a file: upload ids
 * are `[A-Za-z0-9_-]`, finalized names never end in `.tmp` (finalize's `safeSegment`), and what
 * URL params name are directories (the sweep only ever takes regular files for debris).
 */
const TEMP_NAME = /\.[0-9a-f]{12}\.tmp$/;

/**
 * The sidecar name of an id of tusport's own shapes (32 hex digits before 2026-11-30, 44 since;
 * any case): finalize renames a segment of this shape (`safeSegment`), so no finalized file is
 * ever called that, and `isFinalizedFile` need not look.
 */
export const OWN_ID_SIDECAR_NAME = /^(?:[0-9a-f]{12})?[0-9a-f]{32}\.json$/i;

export function tempPathFor(file: string): string {
  return `${file}.${randomBytes(6).toString('hex')}.tmp`;
}

export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** Open flags that refuse a symlink as the last path component (ELOOP): never follow one out of the store. */
export const NO_FOLLOW = fs.constants.O_NOFOLLOW;

/**
 * The same for `createReadStream`, which hands `flags` to `fs.open` as is (numbers work there)
 * although its types list only strings.
 */
export const STREAM_FLAGS = {
  read: (fs.constants.O_RDONLY | NO_FOLLOW) as unknown as string,
};

/** Write `sidecar` durably to a fresh temp file beside `file`; the caller renames or links it into place. */
export async function writeTempSidecar(file: string, sidecar: Sidecar): Promise<string> {
  const temp = tempPathFor(file);
  const handle = await fs.open(temp, 'wx', 0o640);
  try {
    await handle.writeFile(`${JSON.stringify(sidecar, null, 2)}\n`);
    await handle.sync();
  } catch (error) {
    // A full disk fails the write, not the open: leave no empty temp file per attempt.
    await handle.close();
    await fs.rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  return temp;
}

export async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Whether `file` holds a finalized upload's bytes (the sidecar finalize puts beside every final
 * file says so). A client's file may be finalized under a name like `x.json` with content shaped
 * like a sidecar: it must never be taken for one (swept, completed, or served as an upload).
 */
export async function isFinalizedFile(file: string): Promise<boolean> {
  // finalize never gives a file a name of this shape (its `safeSegment` prefixes one with `_`), so
  // for the ids tusport makes there is nothing to look for: a HEAD reads one file, not two.
  if (OWN_ID_SIDECAR_NAME.test(path.basename(file))) return false;
  const beside = await readSidecar(sidecarPath(file)).catch(() => undefined);
  const finalPath: unknown = beside?.tusport.final_path;
  return typeof finalPath === 'string' && path.posix.basename(finalPath) === path.basename(file);
}

/** Read a sidecar; undefined when it does not exist or is not one of ours. */
export async function readSidecar(file: string): Promise<Sidecar | undefined> {
  // A symlink in a sidecar's place is not ours, and is never followed out of the store.
  const flags = fs.constants.O_RDONLY | NO_FOLLOW;
  let parsed = parseJson(await ifSidecarFile(readSmallFile(file, flags)));
  // readSmallFile takes a short read for the end: should one ever come early, read it all again.
  if (parsed === NOT_JSON) parsed = parseJson(await ifSidecarFile(fs.readFile(file, { flag: flags })));
  return isSidecar(parsed) ? parsed : undefined;
}

const NOT_JSON = Symbol('not JSON');

function parseJson(bytes: Buffer | undefined): unknown {
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return NOT_JSON;
  }
}

/** The file's bytes; undefined when there is no sidecar file there to read. */
async function ifSidecarFile(read: Promise<Buffer>): Promise<Buffer | undefined> {
  try {
    return await read;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw error;
  }
}

function isSidecar(value: unknown): value is Sidecar {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<Sidecar>;
  return (
    typeof candidate.id === 'string' &&
    typeof candidate.tusport === 'object' &&
    candidate.tusport !== null &&
    typeof candidate.tusport.endpoint === 'string' &&
    typeof candidate.tusport.params === 'object'
  );
}
