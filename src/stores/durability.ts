import { z } from 'zod';

/**
 * When a disk store's bytes are forced to the disk (fsync). `request` (the default): every PATCH's
 * bytes are fsynced before its 204, so an acknowledged byte survives a power loss or kernel crash.
 * `none`: no fsync of upload bytes; the 204 means the kernel has them (they survive the process
 * dying, not the machine), and the OS writes them back on its own schedule. Only upload bytes:
 * sidecars (creation, length, completion) are still written atomically and fsynced.
 */
export type SyncMode = 'request' | 'none';

export const SyncSchema = () =>
  z
    .enum(['request', 'none'], { error: 'expected "request" (fsync before each acknowledgement) or "none" (no fsync)' })
    .default('request')
    .meta({
      description:
        '`request`: the bytes of every request (PATCH, or POST with creation-with-upload) are fsynced before it is answered, so acknowledged bytes survive a power loss or OS crash. `none`: no fsync of upload bytes (sidecars still are): an answer means the kernel has the bytes; they survive tusport crashing or being killed, but bytes acknowledged in the last seconds before a machine crash may be lost, and the client, told they were stored, will not send them again. Faster with many small or chunked PATCHes (see docs/durability.md).',
    });

/** Called after each fsync of upload bytes with its duration (the `fsync` store operation metric). */
export type OnSync = (seconds: number, failed: boolean) => void;
