import type { FastifyRequest } from 'fastify';
import type { UploadContext } from '../endpoints/context.js';
import type { EndpointRuntime, ProtocolHandler } from '../endpoints/runtime.js';
import { isCodedError } from '../errors.js';
import { storageError } from '../uploads/storage-errors.js';
import type { StoredUpload } from '../stores/backend.js';
import { FileErrors } from './errors.js';

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 1000;
/**
 * The most ids one call looks at. When the caller owns few of a shared location's uploads, a page
 * may come back short (even empty) with a `next` cursor: the cost of one call stays bounded, and
 * the client follows `next` until it is null.
 */
const MAX_EXAMINED = 2000;
/** Sidecars read at once. */
const READ_BATCH = 32;

/** One upload as the files API lists it. */
export interface ListedUpload {
  id: string;
  url: string;
  filename: string | null;
  type: string | null;
  /** Declared length; null while deferred. */
  size: number | null;
  offset: number;
  complete: boolean;
  createdAt: string;
  completedAt: string | null;
  /** Where finalize put the file, relative to the store location; null when not finalized. */
  finalPath: string | null;
  metadata: Record<string, string | null>;
}

export interface UploadList {
  uploads: ListedUpload[];
  /** Opaque: pass it back as `?cursor=` for the next page; null at the end. */
  next: string | null;
}

interface ListQuery {
  cursor: string | undefined;
  limit: number;
  complete: boolean | undefined;
}

/**
 * GET <collection URL>: the caller's uploads on this endpoint and params (an admin's: everyone's),
 * newest first, a page at a time. The store lists names only (one readdir, or S3 ListObjectsV2
 * pages of 1,000 keys starting after the cursor); sidecars are read only for the ids a page looks
 * at, because tusport's ids sort newest first by their name (src/uploads/ids.ts). Ids of another
 * shape (made before, or chosen by a hook) sort by their spelling among them.
 */
export const handleList: ProtocolHandler = async (runtime, context, request, reply) => {
  if (context.principal === null) throw new FileErrors.LIST_NEEDS_AUTH();
  const query = parseQuery(request);
  let list: UploadList;
  try {
    list = await listUploads(runtime, context, query);
  } catch (error) {
    throw isCodedError(error) ? error : storageError(error, context.log);
  }
  reply.header('Cache-Control', 'private, no-store');
  return reply.code(200).send(list);
};

export async function listUploads(runtime: EndpointRuntime, context: UploadContext, query: ListQuery): Promise<UploadList> {
  const uploads: ListedUpload[] = [];
  let examined = 0;
  let last: string | undefined;
  let batch: string[] = [];
  /**
   * Read a batch's sidecars at once (the thread pool overlaps the reads), then take them in order.
   * True when the page is full and ids of the batch were left over (there is more).
   */
  const take = async (): Promise<boolean> => {
    const ids = batch;
    batch = [];
    const found = await Promise.all(ids.map((id) => runtime.store.find(id, context)));
    for (const [index, stored] of found.entries()) {
      if (uploads.length === query.limit) return true;
      last = ids[index];
      // Not visible to this caller (another owner's), or gone since the listing: not listed.
      if (!stored) continue;
      const complete = stored.sidecar.tusport.completed_at !== undefined;
      if (query.complete === undefined || complete === query.complete) uploads.push(describe(context, stored, complete));
    }
    return false;
  };
  let full = false;
  for await (const id of runtime.store.backend.listIds(context.place, query.cursor)) {
    // A full page and one more id: there is a next page.
    if (full || uploads.length === query.limit) return { uploads, next: encodeCursor(last) };
    batch.push(id);
    examined += 1;
    if (batch.length < Math.min(READ_BATCH, query.limit - uploads.length) && examined < MAX_EXAMINED) continue;
    full = await take();
    if (examined >= MAX_EXAMINED) return { uploads, next: encodeCursor(last) };
  }
  full = await take();
  return { uploads, next: full ? encodeCursor(last) : null };
}

function describe(context: UploadContext, { sidecar, offset }: StoredUpload, complete: boolean): ListedUpload {
  const metadata = sidecar.metadata ?? {};
  return {
    id: sidecar.id,
    url: `${context.origin}${context.basePath}/${sidecar.id}`,
    filename: metadata.filename ?? null,
    type: metadata.filetype ?? null,
    size: sidecar.size ?? null,
    offset,
    complete,
    createdAt: sidecar.creation_date,
    completedAt: sidecar.tusport.completed_at ?? null,
    finalPath: sidecar.tusport.final_path ?? null,
    metadata,
  };
}

function parseQuery(request: FastifyRequest): ListQuery {
  const raw = request.query as Record<string, string | string[] | undefined>;
  const one = (name: string): string | undefined => {
    const value = raw[name];
    if (Array.isArray(value)) throw new FileErrors.INVALID_QUERY(name, 'given more than once');
    return value;
  };
  const limitText = one('limit');
  let limit = DEFAULT_LIMIT;
  if (limitText !== undefined) {
    limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : 0;
    if (limit < 1 || limit > MAX_LIMIT) throw new FileErrors.INVALID_QUERY('limit', `expected a whole number from 1 to ${MAX_LIMIT}`);
  }
  const completeText = one('complete');
  if (completeText !== undefined && completeText !== 'true' && completeText !== 'false') throw new FileErrors.INVALID_QUERY('complete', 'expected true or false');
  const cursorText = one('cursor');
  return { cursor: cursorText === undefined || cursorText === '' ? undefined : decodeCursor(cursorText), limit, complete: completeText === undefined ? undefined : completeText === 'true' };
}

/** The cursor is the last id looked at, wrapped so clients treat it as opaque. */
function encodeCursor(id: string | undefined): string | null {
  return id === undefined ? null : Buffer.from(`v1:${id}`).toString('base64url');
}

function decodeCursor(cursor: string): string {
  const text = /^[A-Za-z0-9_-]{1,200}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString() : '';
  const match = /^v1:([A-Za-z0-9_-]{1,128})$/.exec(text);
  if (!match?.[1]) throw new FileErrors.INVALID_QUERY('cursor', 'not a cursor this server handed out');
  return match[1];
}
