import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

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
  /** Where finalize moved the file, relative to the store directory, `/`-separated. */
  final_path?: string;
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
  const beside = await readSidecar(sidecarPath(file)).catch(() => undefined);
  const finalPath: unknown = beside?.tusport.final_path;
  return typeof finalPath === 'string' && path.posix.basename(finalPath) === path.basename(file);
}

/** Read a sidecar; undefined when it does not exist or is not one of ours. */
export async function readSidecar(file: string): Promise<Sidecar | undefined> {
  let text: string;
  try {
    // A symlink in a sidecar's place is not ours, and is never followed out of the store.
    text = await fs.readFile(file, { encoding: 'utf8', flag: fs.constants.O_RDONLY | NO_FOLLOW });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isSidecar(parsed) ? parsed : undefined;
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
