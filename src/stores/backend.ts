import type { Readable } from 'node:stream';
import type { Sidecar } from './sidecar.js';

/** An upload as a store knows it: the sidecar plus the true offset. */
export interface StoredUpload {
  sidecar: Sidecar;
  /** Bytes received so far. */
  offset: number;
  /** Where the data is (disk: absolute file path). */
  location: string;
}

export interface WriteLimits {
  /** Most bytes this request may add (min of the chunk limit and what the upload has left). */
  limit: number;
}

export type WriteResult =
  | { kind: 'complete'; offset: number }
  | { kind: 'limit'; offset: number }
  | { kind: 'interrupted'; offset: number; reason: unknown };

/**
 * A storage backend, told explicitly where an upload lives (`place`: a resolved directory for
 * disk, a key prefix for S3). It knows nothing of HTTP, templates or tus headers.
 */
export interface StorageBackend {
  readonly kind: string;
  create(place: string, sidecar: Sidecar): Promise<StoredUpload>;
  get(place: string, id: string): Promise<StoredUpload | undefined>;
  write(place: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult>;
  /** Cut an upload back to `offset` (undo bytes that were never acknowledged). */
  truncate(place: string, id: string, offset: number): Promise<void>;
  updateSidecar(place: string, sidecar: Sidecar): Promise<void>;
  read(stored: StoredUpload): Readable;
  remove(place: string, stored: StoredUpload): Promise<void>;
  /** Where the upload is, for hooks (tusd's `Storage`): disk `{ Type: 'filestore', Path, InfoPath }`. */
  describe?(stored: StoredUpload): Record<string, string>;
}
