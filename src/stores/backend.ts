import type { Locker } from '@tus/server';
import type { WriteFence } from '../coordination/fence.js';
import type { FastifyBaseLogger } from 'fastify';
import type { Readable } from 'node:stream';
import type { TemplateParams } from '../endpoints/template.js';
import type { OverwriteMode } from './finalize.js';
import type { Sidecar } from './sidecar.js';

/** An upload as a store knows it: the sidecar plus the true offset. */
export interface StoredUpload {
  sidecar: Sidecar;
  /** Bytes received so far. */
  offset: number;
  /** Where the data is (disk: absolute file path; S3: object key). */
  location: string;
  /**
   * S3, from `create` only: the id of the multipart upload the bytes go to (a direct upload's
   * client uploads its parts there itself).
   */
  multipartId?: string | undefined;
}

/** A slice of an upload's bytes: `start` to `end`, both inclusive (as in HTTP's Content-Range). */
export interface ByteRange {
  start: number;
  end: number;
}

/** What a presigned download URL answers with (S3 sets these response headers itself). */
export interface PresignOptions {
  /** Lifetime in seconds. */
  expiresIn: number;
  contentType: string;
  contentDisposition: string;
}

export interface WriteLimits {
  /** Most bytes this request may add (min of the chunk limit and what the upload has left). */
  limit: number;
  /** Checked before each commit of bytes to storage: the upload's lock is still this request's. */
  fence?: WriteFence | undefined;
  /**
   * Makes the write all or nothing: its bytes count only if the source ended within the limit and
   * the verifier then accepts them. Otherwise none of them count (the offset stays where it was,
   * in the store too) and the result's offset is the starting offset.
   */
  verify?: ChunkVerifier | undefined;
}

/**
 * Judges a write's bytes (tus's Upload-Checksum): fed every byte the write would keep, in order,
 * while they stream (never in a second pass), and asked once the source has ended.
 */
export interface ChunkVerifier {
  update(chunk: Buffer): void;
  /** After the last byte: whether they are the bytes the client meant to send. */
  matches(): boolean;
}

export type WriteResult =
  | { kind: 'complete'; offset: number }
  | { kind: 'limit'; offset: number }
  | { kind: 'interrupted'; offset: number; reason: unknown }
  /** The whole body arrived but the verifier refused it: nothing of it counts. */
  | { kind: 'rejected'; offset: number };

export interface SweepResult {
  /** Expired unfinished uploads removed. */
  expired: number;
  /** Crash debris removed (temp files, sidecars without data, multipart uploads without sidecar). */
  leftovers: number;
  /** Finished uploads whose completion (finalize, notifications) the sweep carried to its end. */
  completed: number;
  /** Entries the sweep could not judge or handle (each logged); it went on with the rest. */
  skipped: number;
}

/** What a sweep of one endpoint's store needs to know. */
export interface SweepOptions {
  /** The endpoint's URL template, as recorded in its sidecars. */
  endpoint: string;
  expireMs?: number | undefined;
  locker: Locker;
  log: FastifyBaseLogger;
  now: number;
  /** Told of every upload the sweep removed (quotas give its slot back). */
  onRemoved?: ((sidecar: Sidecar) => Promise<void> | void) | undefined;
  /**
   * Carry on the completion of a finished upload found at `place` if it stopped half-way; true
   * when it did work. Throws when a step still cannot be done (the sweep logs it and goes on).
   */
  resume?: ((place: string, sidecar: Sidecar) => Promise<boolean>) | undefined;
  /**
   * S3 only: a presigned-POST direct upload, found by its marker multipart upload at `place` + id
   * (src/protocols/s3-direct/sweep.ts): finished when its file has arrived although its client never
   * said so ('completed'); once finished and its form expired, its staging key and marker removed
   * ('leftovers'). Undefined when there was nothing to do (the sweep then treats it as any upload).
   */
  noticeDirect?: ((place: string, sidecar: Sidecar, multipartId: string) => Promise<'completed' | 'leftovers' | undefined>) | undefined;
}

/** An unfinished upload found by listing a store (quotas are rebuilt from these). */
export interface UnfinishedUpload {
  sidecar: Sidecar;
  /** Bytes received so far. */
  offset: number;
}

/**
 * One endpoint's storage: disk or S3. Bound to the endpoint's location template; told explicitly
 * where an upload lives (`place`: a resolved directory for disk, a key prefix for S3). It knows
 * nothing of HTTP or tus headers.
 */
export interface StorageBackend {
  readonly kind: 'disk' | 's3';
  /**
   * Whether bytes once written can be taken back (`truncate`). S3 parts cannot, so PATCH bodies
   * to an S3 store must say their length up front.
   */
  readonly canTruncate: boolean;
  /** Where uploads with these template params live. Throws TemplateError if that would leave the store. */
  place(params: TemplateParams): string;
  create(place: string, sidecar: Sidecar): Promise<StoredUpload>;
  get(place: string, id: string): Promise<StoredUpload | undefined>;
  /** Only the sidecar (no offset: cheap on S3, where `get` lists parts): enough to authorize a request. */
  getSidecar(place: string, id: string): Promise<Sidecar | undefined>;
  write(place: string, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult>;
  /** Make the finished bytes an object/file of their own if writing them did not (S3: complete the multipart upload). */
  seal?(place: string, stored: StoredUpload): Promise<void>;
  /**
   * Fill `target`, a new empty upload, with the bytes of `parts` (finished uploads at the same
   * place), in order (concatenation, src/uploads/concat.ts). Resolves once the bytes are durable
   * and `target` is sealed (S3: its multipart upload completed); the parts are left as they were.
   */
  concatenate(place: string, target: StoredUpload, parts: readonly StoredUpload[]): Promise<void>;
  /** Cut an upload back to `offset` (undo bytes that were never acknowledged). Only if `canTruncate`. */
  truncate(place: string, id: string, offset: number): Promise<void>;
  updateSidecar(place: string, sidecar: Sidecar): Promise<void>;
  /** The finished upload's bytes, or only `range` of them (inclusive offsets; S3 asks for just those bytes). */
  open(stored: StoredUpload, range?: ByteRange): Promise<Readable>;
  remove(place: string, stored: StoredUpload): Promise<void>;
  /** S3 only: a URL that downloads the finished bytes straight from the bucket until it expires. */
  presignGet?(stored: StoredUpload, options: PresignOptions): Promise<string>;
  /** Move a finished upload to `relativePath` under `place`; returns its new location. */
  finalize(place: string, stored: StoredUpload, relativePath: string, overwrite: OverwriteMode): Promise<string>;
  /** Whether `relativePath` under `place` is already taken (the early check at creation). */
  finalPathTaken(place: string, relativePath: string): Promise<boolean>;
  /**
   * Ids of the uploads at `place` in the order of their sidecars' names (tusport's ids sort newest
   * first: src/uploads/ids.ts), starting after `after`'s. Names only: no sidecar is read, so the
   * files API pages through a large store reading just the sidecars of one page (src/files/list.ts).
   */
  listIds(place: string, after: string | undefined): AsyncIterable<string>;
  /**
   * Every finished upload's sidecar anywhere in this store whose sidecar was last written before
   * `before` (ms), with its place. Costs a walk of the store (disk) or a listing of it plus a read
   * per old sidecar (S3): only the sweep of unclaimed uploads uses it.
   */
  finishedBefore(before: number): AsyncIterable<{ place: string; sidecar: Sidecar }>;
  /** Every unfinished upload anywhere in this store (all places). */
  unfinished(): AsyncIterable<UnfinishedUpload>;
  /** Remove expired unfinished uploads and crash debris. Finished uploads are never touched. */
  sweep(options: SweepOptions): Promise<SweepResult>;
  /** Where the bytes are, for hook payloads (tusd's `Storage` object). */
  describe(place: string, stored: StoredUpload): Record<string, string>;
  /** Startup check that the store is usable (bucket reachable, credentials valid). */
  check?(): Promise<void>;
}
