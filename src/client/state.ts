import { mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import envPaths from 'env-paths';
import * as tus from 'tus-js-client';
import type { LocalFile } from './options.js';

// tus-js-client's Node build exports FileUrlStorage, but its type declarations leave it out.
const { FileUrlStorage } = tus as unknown as { FileUrlStorage: new (file: string) => tus.UrlStorage };

/** The resume state file: TUSPORT_CLIENT_STATE, else `uploads.json` in the user's config dir. */
export function stateFile(env: NodeJS.ProcessEnv = process.env): string {
  return env.TUSPORT_CLIENT_STATE || path.join(envPaths('tusport').config, 'uploads.json');
}

/**
 * Which stored upload belongs to this file at this endpoint. A JSON array because FileUrlStorage
 * looks fingerprints up by key prefix: no JSON array is a prefix of a different one, so
 * `.../files` never picks up an entry of `.../files2`, nor `a.bin` one of `a.bin.old`. Size and
 * mtime are in it so an edited file starts a new upload instead of appending to the old bytes.
 */
export function fingerprintOf(endpoint: string, file: LocalFile): string {
  return JSON.stringify(['tusport-upload/1', endpoint, file.path, file.size, file.mtimeMs]);
}

/**
 * FileUrlStorage with two fixes for a CLI. Its operations are serialised within the process
 * (its lock file only retries briefly, so parallel uploads could fail to take it), and its
 * failures become warnings: an unwritable state file must cost resumability, not the upload
 * (tus-js-client leaves a failed save as an unhandled rejection and the upload stalled).
 */
export class ResumeState implements tus.UrlStorage {
  private readonly storage: tus.UrlStorage;
  private queue: Promise<unknown> = Promise.resolve();
  /** Settles once the file is usable; with the error when it is not. */
  private readonly ready: Promise<Error | undefined>;
  private warned = false;

  constructor(
    readonly file: string,
    private readonly warn: (message: string) => void,
  ) {
    this.storage = new FileUrlStorage(file);
    this.ready = prepare(file).then(
      (note) => {
        if (note) warn(note);
        return undefined;
      },
      (error: Error) => error,
    );
  }

  findAllUploads(): Promise<tus.PreviousUpload[]> {
    return this.run('read', [], () => this.storage.findAllUploads());
  }

  findUploadsByFingerprint(fingerprint: string): Promise<tus.PreviousUpload[]> {
    return this.run('read', [], () => this.storage.findUploadsByFingerprint(fingerprint));
  }

  removeUpload(key: string): Promise<void> {
    return this.run('update', undefined, () => this.storage.removeUpload(key));
  }

  /** An empty key on failure: tus-js-client then has nothing to remove later, and goes on. */
  addUpload(fingerprint: string, upload: tus.PreviousUpload): Promise<string> {
    return this.run('save', '', () => this.storage.addUpload(fingerprint, upload));
  }

  /** The newest stored upload of a fingerprint (more than one only if a save raced a crash). */
  async latest(fingerprint: string): Promise<tus.PreviousUpload | undefined> {
    const uploads = await this.findUploadsByFingerprint(fingerprint);
    return uploads.sort((a, b) => Date.parse(b.creationTime) - Date.parse(a.creationTime))[0];
  }

  /** Drop every stored upload of a fingerprint: after success, or to start afresh. */
  async forget(fingerprint: string): Promise<void> {
    for (const upload of await this.findUploadsByFingerprint(fingerprint)) await this.removeUpload(upload.urlStorageKey);
  }

  private run<T>(what: string, fallback: T, operation: () => Promise<T>): Promise<T> {
    const result = this.queue
      .then(() => this.ready)
      .then((error) => {
        if (error) throw error;
        return operation();
      });
    this.queue = result.catch(() => undefined);
    return result.catch((error: Error) => {
      if (!this.warned) {
        this.warned = true;
        this.warn(`cannot ${what} the resume state in ${this.file}: ${error.message} (uploads go on, but may not resume after an interruption)`);
      }
      return fallback;
    });
  }
}

/**
 * Create the state file's directory, and set an unreadable state file aside: FileUrlStorage
 * rewrites the file in place, so a process killed mid-write leaves truncated JSON, which would
 * otherwise make every later upload unresumable until someone deleted it.
 */
async function prepare(file: string): Promise<string | undefined> {
  await mkdir(path.dirname(file), { recursive: true });
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  try {
    if (text.trim()) JSON.parse(text);
    return undefined;
  } catch {
    await rename(file, `${file}.corrupt`);
    return `the resume state in ${file} was not valid JSON; moved it to ${file}.corrupt and started with none`;
  }
}
