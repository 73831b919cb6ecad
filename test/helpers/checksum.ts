import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';

export const ALGORITHMS = ['sha1', 'md5', 'sha256', 'sha512', 'crc32'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

/** The base64 digest a client sends in Upload-Checksum (crc32: 4 bytes big-endian). */
export function digest(algorithm: Algorithm, data: Buffer): string {
  if (algorithm !== 'crc32') return createHash(algorithm).update(data).digest('base64');
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data) >>> 0);
  return out.toString('base64');
}

/** `Upload-Checksum: <algorithm> <base64>` for `data`. */
export function checksumHeader(algorithm: Algorithm, data: Buffer): string {
  return `${algorithm} ${digest(algorithm, data)}`;
}

/** A well-formed checksum of the right length that does not match `data`. */
export function wrongChecksum(algorithm: Algorithm, data: Buffer): string {
  return checksumHeader(algorithm, Buffer.concat([data, Buffer.from('x')]));
}
