import type { Readable } from 'node:stream';
import type { UploadContext } from '../endpoints/context.js';
import { Errors } from '../errors.js';
import { storageError } from '../uploads/storage-errors.js';
import type { ByteRange, StorageBackend, StoredUpload, WriteLimits, WriteResult } from './backend.js';
import type { Sidecar, SidecarTusport } from './sidecar.js';
import { VisibilityCache } from './visibility-cache.js';

export interface EndpointStoreOptions {
  /** The endpoint's URL template: recorded in sidecars and checked on every access. */
  endpoint: string;
  backend: StorageBackend;
  expireMs?: number | undefined;
}

/** What a new upload's sidecar records besides what the request context says (see `create`). */
export interface NewSidecar {
  id: string;
  /** Declared length; undefined while deferred. */
  size: number | undefined;
  metadata: Record<string, string | null>;
  /** Concatenation: a partial upload, or a final one made of these partial uploads' ids. */
  concat?: SidecarTusport['concat'];
  /** Uploaded straight to the store (S3) by the client. */
  direct?: SidecarTusport['direct'];
}

/**
 * One endpoint's uploads, wherever its templated location puts them, visible only to their owner:
 * the store every protocol handler uses. Every lookup checks that the upload was created by this
 * endpoint under the same template params as the request, so a URL under /users/alice/... can
 * never reach an upload made under /users/bob/..., even if two templates render to the same
 * directory.
 */
export class EndpointStore {
  /** Who may see which upload, so an owner's request locks with no read first (see VisibilityCache). */
  private readonly known = new VisibilityCache();

  constructor(readonly options: EndpointStoreOptions) {}

  /** Find an upload for the request's endpoint and params; undefined if not visible. */
  async find(id: string, context: UploadContext): Promise<StoredUpload | undefined> {
    let stored;
    try {
      stored = await this.options.backend.get(context.place, id);
    } catch (error) {
      throw storageError(error, context.log, id);
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
      throw storageError(error, context.log, id);
    }
    if (!sidecar || !this.visible(sidecar.tusport, context)) throw new Errors.UPLOAD_NOT_FOUND();
    this.known.remember(id, sidecar.tusport);
  }

  /** Made by this endpoint under the request's params, and owned by its principal (or an admin asks). */
  private visible(tusport: Pick<SidecarTusport, 'endpoint' | 'params' | 'owner'>, context: UploadContext): boolean {
    if (tusport.endpoint !== this.options.endpoint || !sameParams(tusport.params, context.params)) return false;
    // A signed download link opens the upload its (signed) URL names, whoever owns it.
    if (context.link) return true;
    // Someone else's upload does not exist for you (404, not 403: its existence is not revealed).
    return tusport.owner === context.owner || context.principal?.admin === true;
  }

  async require(id: string, context: UploadContext): Promise<StoredUpload> {
    const stored = await this.find(id, context);
    if (!stored) throw new Errors.UPLOAD_NOT_FOUND();
    return stored;
  }

  isExpired(stored: StoredUpload, now = Date.now()): boolean {
    const expireMs = this.options.expireMs;
    if (!expireMs || !expires(stored)) return false;
    return Date.parse(stored.sidecar.creation_date) + expireMs < now;
  }

  expiresAt(stored: StoredUpload): Date | undefined {
    if (!this.options.expireMs || !expires(stored)) return undefined;
    return new Date(Date.parse(stored.sidecar.creation_date) + this.options.expireMs);
  }

  /**
   * Make a new upload's store entry, recording the request's endpoint, params, owner and its
   * signed token's narrower limits. 409 `TUSPORT_ERR_UPLOAD_ID_TAKEN` when the id is taken (a
   * hook may choose ids): the existing upload is left untouched.
   */
  async create(context: UploadContext, upload: NewSidecar): Promise<StoredUpload> {
    const scope = context.principal?.scope;
    const sidecar: Sidecar = {
      id: upload.id,
      size: upload.size,
      offset: 0,
      // No metadata at all is recorded as none (HEAD then sends no Upload-Metadata), as before.
      metadata: Object.keys(upload.metadata).length > 0 ? upload.metadata : undefined,
      creation_date: new Date().toISOString(),
      tusport: {
        version: 1,
        endpoint: this.options.endpoint,
        params: context.params,
        owner: context.owner,
        ...(scope?.accept ? { accept: scope.accept } : {}),
        ...(scope?.maxSize !== undefined ? { maxSize: scope.maxSize } : {}),
        ...(upload.concat ? { concat: upload.concat } : {}),
        ...(upload.direct ? { direct: upload.direct } : {}),
      },
    };
    let stored: StoredUpload;
    try {
      stored = await this.options.backend.create(context.place, sidecar);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new Errors.UPLOAD_ID_TAKEN();
      throw storageError(error, context.log, upload.id);
    }
    this.known.remember(sidecar.id, sidecar.tusport);
    return stored;
  }

  /** Append a request body (PATCH, creation with upload): the caller computed the limits and handles each outcome. */
  writeChunk(context: UploadContext, id: string, source: Readable, offset: number, limits: WriteLimits, stop?: AbortSignal): Promise<WriteResult> {
    return this.options.backend.write(context.place, id, source, offset, limits, stop);
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

  openStored(stored: StoredUpload, range?: ByteRange): Promise<Readable> {
    return this.options.backend.open(stored, range);
  }

  get backend(): StorageBackend {
    return this.options.backend;
  }
}

export function isComplete(stored: StoredUpload): boolean {
  return stored.sidecar.size !== undefined && stored.offset === stored.sidecar.size;
}

/**
 * Whether the upload can still expire: unfinished uploads, and partial uploads of a concatenation,
 * which only matter until a final upload takes them in (src/uploads/concat.ts).
 */
function expires(stored: StoredUpload): boolean {
  return !isComplete(stored) || stored.sidecar.tusport.concat === 'partial';
}

function sameParams(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((key) => a[key] === b[key]);
}
