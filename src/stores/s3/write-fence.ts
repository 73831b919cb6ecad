import type { S3 } from '@aws-sdk/client-s3';
import type { WriteFence } from '../../coordination/fence.js';

/** The S3 commands that commit something of an upload: its parts, its `.part` tail, its `.info` sidecar. */
const COMMITS = new Set(['UploadPartCommand', 'PutObjectCommand', 'CompleteMultipartUploadCommand', 'DeleteObjectCommand', 'CopyObjectCommand']);

/** `<key>`, `<key>.part`, `<key>.info` all belong to the upload at `<key>`. */
function uploadKey(key: string): string {
  return key.replace(/\.(part|info)$/, '');
}

/**
 * The lock fence on an S3 store's write path. @tus/s3-store issues the UploadPart and PutObject
 * calls of a write from stream callbacks that carry no context of the request, so the check sits
 * in the client's middleware, right before each attempt of a committing command is sent, and
 * looks up the fences of the writes in progress on that upload's key. Two writes of one upload at
 * once only happen when a holder lost its lease while still writing: then every fence of that key
 * must hold, so the stale one fails its next command; the new holder may fail one too (a 423 its
 * client retries) until the stale write has given up, which it does at its first check.
 */
export class S3WriteFences {
  private readonly active = new Map<string, Set<WriteFence>>();

  constructor(client: S3) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args.input as { Key?: unknown }).Key;
        if (typeof key === 'string' && COMMITS.has(context.commandName ?? '')) {
          for (const fence of this.active.get(uploadKey(key)) ?? []) fence.assertHeld();
        }
        return next(args);
      },
      // After the SDK's retry middleware: each attempt is checked, not only the first.
      { step: 'finalizeRequest', priority: 'low', name: 'tusportWriteFence' },
    );
  }

  /** Run `write` (everything it sends for `key`) under `fence`. */
  async during<T>(key: string, fence: WriteFence | undefined, write: () => Promise<T>): Promise<T> {
    if (!fence) return write();
    let fences = this.active.get(key);
    if (!fences) this.active.set(key, (fences = new Set()));
    fences.add(fence);
    try {
      return await write();
    } finally {
      fences.delete(fence);
      if (fences.size === 0 && this.active.get(key) === fences) this.active.delete(key);
    }
  }
}
