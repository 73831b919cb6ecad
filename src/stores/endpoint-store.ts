import type { Readable } from 'node:stream';
import { DataStore, ERRORS, Upload } from '@tus/server';
import type { WriteFence } from '../coordination/fence.js';
import { currentUploadContext, type UploadContext } from '../endpoints/context.js';
import { type CodedError, Errors, toTusError } from '../errors.js';
import { storageError } from '../protocol/storage-errors.js';
import type { StorageBackend, StoredUpload, WriteResult } from './backend.js';
import type { Sidecar, SidecarTusport } from './sidecar.js';
import { VisibilityCache } from './visibility-cache.js';

export interface EndpointStoreOptions {
  /** The endpoint's URL template: recorded in sidecars and checked on every access. */
  endpoint: string;
  backend: StorageBackend;
  maxChunkSize?: number | undefined;
  expireMs?: number | undefined;
  /** Called once an upload exists (post-create hooks), before the creating request is answered. */
  onCreated?: ((context: UploadContext, stored: StoredUpload) => Promise<void>) | undefined;
}

/**
 * One endpoint's uploads, wherever its templated location puts them, visible only to their owner. This is the DataStore
 * @tus/server talks to for creation (create, write, getUpload), and the store our own handlers
 * (HEAD, PATCH, DELETE, GET) use. Every lookup checks that the
 * upload was created by this endpoint under the same template params as the request, so a URL
 * under /users/alice/... can never reach an upload made under /users/bob/..., even if two
 * templates render to the same directory.
 */
export class EndpointStore extends DataStore {
  /** Who may see which upload, so an owner's request locks with no read first (see VisibilityCache). */
  private readonly known = new VisibilityCache();

  constructor(readonly options: EndpointStoreOptions) {
    super();
    this.extensions = ['creation', 'creation-with-upload', 'creation-defer-length', 'termination'];
    if (options.expireMs) this.extensions.push('expiration');
  }

  /** Find an upload for the current request's endpoint and params; undefined if not visible. */
  async find(id: string, context: UploadContext = currentUploadContext()): Promise<StoredUpload | undefined> {
    let stored;
    try {
      stored = await this.options.backend.get(context.place, id);
    } catch (error) {
      throw toTusError(storageError(error, context.log, id));
    }
    if (!stored || !this.visible(stored.sidecar.tusport, context)) return undefined;
    this.known.remember(id, stored.sidecar.tusport);
    return stored;
  }

  /**
   * 404 unless the upload exists and this request may see it, judged from its sidecar alone. Runs
   * before a handler touches the upload's lock: a request that will be refused must never make
   * the owner's PATCH hand over, nor learn from the wait that the upload is busy.
   */
  async authorize(id: string, context: UploadContext): Promise<void> {
    const known = this.known.recall(id);
    if (known && this.visible({ ...known, endpoint: this.options.endpoint }, context)) return;
    let sidecar;
    try {
      sidecar = await this.options.backend.getSidecar(context.place, id);
    } catch (error) {
      throw toTusError(storageError(error, context.log, id));
    }
    if (!sidecar || !this.visible(sidecar.tusport, context)) throw toTusError(new Errors.UPLOAD_NOT_FOUND());
    this.known.remember(id, sidecar.tusport);
  }

  /** Made by this endpoint under the request's params, and owned by its principal (or an admin asks). */
  private visible(tusport: Pick<SidecarTusport, 'endpoint' | 'params' | 'owner'>, context: UploadContext): boolean {
    if (tusport.endpoint !== this.options.endpoint || !sameParams(tusport.params, context.params)) return false;
    // Someone else's upload does not exist for you (404, not 403: its existence is not revealed).
    return tusport.owner === context.owner || context.principal?.admin === true;
  }

  async require(id: string, context?: UploadContext): Promise<StoredUpload> {
    const stored = await this.find(id, context);
    if (!stored) throw toTusError(new Errors.UPLOAD_NOT_FOUND());
    return stored;
  }

  isExpired(stored: StoredUpload, now = Date.now()): boolean {
    const expireMs = this.options.expireMs;
    if (!expireMs || isComplete(stored)) return false;
    return Date.parse(stored.sidecar.creation_date) + expireMs < now;
  }

  expiresAt(stored: StoredUpload): Date | undefined {
    if (!this.options.expireMs || isComplete(stored)) return undefined;
    return new Date(Date.parse(stored.sidecar.creation_date) + this.options.expireMs);
  }

  override async create(upload: Upload): Promise<Upload> {
    const context = currentUploadContext();
    const sidecar: Sidecar = {
      id: upload.id,
      size: upload.size,
      offset: 0,
      metadata: upload.metadata,
      creation_date: upload.creation_date ?? new Date().toISOString(),
      tusport: {
        version: 1,
        endpoint: this.options.endpoint,
        params: context.params,
        owner: context.owner,
        ...(context.principal?.scope?.accept ? { accept: context.principal.scope.accept } : {}),
        ...(context.principal?.scope?.maxSize !== undefined ? { maxSize: context.principal.scope.maxSize } : {}),
      },
    };
    let stored: StoredUpload;
    try {
      stored = await this.options.backend.create(context.place, sidecar);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw toTusError(new Errors.UPLOAD_ID_TAKEN());
      throw error;
    }
    context.createdUpload = true;
    this.known.remember(sidecar.id, sidecar.tusport);
    await this.options.onCreated?.(context, stored);
    upload.creation_date = sidecar.creation_date;
    upload.storage = { type: this.options.backend.kind, path: stored.location };
    return upload;
  }

  override async getUpload(id: string): Promise<Upload> {
    return toUpload(await this.require(id));
  }

  /**
   * @tus/server's path for creation-with-upload bodies. It already caps the body at the upload's
   * length; we add the endpoint's chunk limit.
   */
  override async write(stream: Readable, id: string, offset: number): Promise<number> {
    const context = currentUploadContext();
    const chunkLimit = this.options.maxChunkSize ?? Number.MAX_SAFE_INTEGER;
    // @tus/server caps a body at the declared length or the endpoint's maxSize; a deferred length
    // must also stay within the signed token's, and bring only what its owner's quota has room for.
    const sizeLimit = (context.principal?.scope?.maxSize ?? Number.MAX_SAFE_INTEGER) - offset;
    const quota = context.creationBodyQuota;
    const limit = Math.min(chunkLimit, sizeLimit, quota?.limit ?? Number.MAX_SAFE_INTEGER);
    const result = await this.options.backend.write(context.place, id, stream, offset, { limit });
    if (result.kind === 'limit') {
      // The creating POST then answers without a Location; its handler removes the upload.
      if (limit === chunkLimit) throw toTusError(new Errors.CHUNK_TOO_LARGE(limit));
      throw toTusError(quota?.limit === limit ? (quota.exceeded() as CodedError) : new Errors.PAST_MAX_SIZE(offset + limit));
    }
    return result.offset;
  }

  /** Our PATCH handler's write: the caller computed the limit and handles each outcome. */
  writeChunk(context: UploadContext, id: string, source: Readable, offset: number, limit: number, stop?: AbortSignal, fence?: WriteFence): Promise<WriteResult> {
    return this.options.backend.write(context.place, id, source, offset, { limit, fence }, stop);
  }

  truncate(context: UploadContext, id: string, offset: number): Promise<void> {
    return this.options.backend.truncate(context.place, id, offset);
  }

  async removeStored(context: UploadContext, stored: StoredUpload): Promise<void> {
    this.known.forget(stored.sidecar.id);
    await this.options.backend.remove(context.place, stored);
  }

  async setLength(context: UploadContext, stored: StoredUpload, length: number): Promise<void> {
    stored.sidecar.size = length;
    await this.options.backend.updateSidecar(context.place, stored.sidecar);
  }

  openStored(stored: StoredUpload): Promise<Readable> {
    return this.options.backend.open(stored);
  }

  get backend(): StorageBackend {
    return this.options.backend;
  }

  override getExpiration(): number {
    return this.options.expireMs ?? 0;
  }

  override async deleteExpired(): Promise<number> {
    // Expiry is swept per location by tusport's cleanup, not through @tus/server (whose stores
    // also delete finished uploads).
    throw ERRORS.UNSUPPORTED_EXPIRATION_EXTENSION;
  }
}

export function isComplete(stored: StoredUpload): boolean {
  return stored.sidecar.size !== undefined && stored.offset === stored.sidecar.size;
}

export function toUpload(stored: StoredUpload): Upload {
  return new Upload({
    id: stored.sidecar.id,
    size: stored.sidecar.size,
    offset: stored.offset,
    metadata: stored.sidecar.metadata,
    creation_date: stored.sidecar.creation_date,
    storage: { type: 'tusport', path: stored.location },
  });
}

function sameParams(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}
