import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { crc32 } from 'node:zlib';
import createError from '@fastify/error';
import type { FastifyReply } from 'fastify';
import type { CodedError } from '../../errors.js';
import type { ChunkVerifier } from '../../stores/backend.js';

/**
 * tus's checksum and checksum-trailer extensions: `Upload-Checksum: <algorithm> <base64 digest>`
 * on a PATCH (or a creation with a body), as a header or as a trailer of a chunked body. The
 * store hashes the bytes while they stream and counts them only if the digest matches
 * (WriteLimits.verify); this module reads the header and judges.
 */

/** What a running digest needs to be: fed chunk by chunk, asked once. */
interface Digest {
  update(chunk: Buffer): void;
  digest(): Buffer;
}

/** CRC-32 (IEEE, as zlib and gzip compute it), sent as its 4 bytes big-endian in base64. */
class Crc32 implements Digest {
  private value = 0;
  update(chunk: Buffer): void {
    this.value = crc32(chunk, this.value);
  }
  digest(): Buffer {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.value >>> 0);
    return out;
  }
}

const hash = (name: string) => (): Digest => createHash(name);

/** Supported algorithms (tus names, lowercase), with the digest length a header must decode to. */
const ALGORITHMS: Record<string, { length: number; create: () => Digest }> = {
  sha1: { length: 20, create: hash('sha1') },
  md5: { length: 16, create: hash('md5') },
  sha256: { length: 32, create: hash('sha256') },
  sha512: { length: 64, create: hash('sha512') },
  crc32: { length: 4, create: () => new Crc32() },
};

/** `Tus-Checksum-Algorithm` (OPTIONS): every algorithm a checksum may use. */
export const TUS_CHECKSUM_ALGORITHM = Object.keys(ALGORITHMS).join(',');

/** What these extensions add to `Tus-Extension`. */
export const CHECKSUM_EXTENSIONS = ['checksum', 'checksum-trailer'] as const;

/** Headers OPTIONS answers with for these extensions (whoever answers OPTIONS sets them). */
export const CHECKSUM_DISCOVERY_HEADERS: Readonly<Record<string, string>> = { 'Tus-Checksum-Algorithm': TUS_CHECKSUM_ALGORITHM };

export const ChecksumErrors = {
  MISMATCH: createError('TUSPORT_ERR_CHECKSUM_MISMATCH', 'The request body does not match its Upload-Checksum (%s); none of its bytes were kept', 460),
  UNSUPPORTED_ALGORITHM: createError('TUSPORT_ERR_CHECKSUM_ALGORITHM', 'Upload-Checksum algorithm %s is not supported; supported: %s', 400),
  INVALID: createError('TUSPORT_ERR_INVALID_CHECKSUM', 'Invalid Upload-Checksum: %s', 400),
} as const;

/** The reason phrase of 460, which Node does not know. */
export const CHECKSUM_MISMATCH_STATUS_TEXT = 'Checksum Mismatch';

interface ExpectedChecksum {
  algorithm: string;
  digest: Buffer;
}

const HEADER = /^([A-Za-z0-9-]+) +([A-Za-z0-9+/]+={0,2})$/;

/** Parse `<algorithm> <base64>`; throws 400 (unknown algorithm, or malformed) with nothing done. */
function parseChecksum(value: string): ExpectedChecksum {
  const match = HEADER.exec(value.trim());
  if (!match) throw new ChecksumErrors.INVALID('expected "<algorithm> <base64 digest>", e.g. "sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="');
  const algorithm = match[1]!.toLowerCase();
  const spec = ALGORITHMS[algorithm];
  if (!spec) throw new ChecksumErrors.UNSUPPORTED_ALGORITHM(JSON.stringify(match[1]!.slice(0, 32)), TUS_CHECKSUM_ALGORITHM);
  const digest = Buffer.from(match[2]!, 'base64');
  // Node's decoder skips what it cannot read: only a canonical encoding of the right length passes.
  if (digest.length !== spec.length || digest.toString('base64') !== match[2]) {
    throw new ChecksumErrors.INVALID(`a ${algorithm} digest is ${spec.length} bytes, base64-encoded (${Math.ceil(spec.length / 3) * 4} characters)`);
  }
  return { algorithm, digest };
}

/** A verifier for one request's body, from its Upload-Checksum header or announced trailer. */
export class ChecksumVerifier implements ChunkVerifier {
  private readonly digests: Map<string, Digest>;
  private failure: CodedError | undefined;

  private constructor(
    private readonly request: IncomingMessage,
    private readonly expected: ExpectedChecksum | undefined,
  ) {
    // From a trailer the algorithm is known only after the last byte: hash with every one of them
    // while the bytes stream (slower, but never a second pass over the bytes).
    const names = expected ? [expected.algorithm] : Object.keys(ALGORITHMS);
    this.digests = new Map(names.map((name) => [name, ALGORITHMS[name]!.create()]));
  }

  /**
   * The request's verifier, or undefined when it sends no checksum. Throws 400 for a malformed
   * header or an unknown algorithm, before any byte is read.
   */
  static fromRequest(request: IncomingMessage): ChecksumVerifier | undefined {
    const header = request.headers['upload-checksum'];
    const trailer = announcesChecksumTrailer(request);
    if (trailer && header !== undefined) throw new ChecksumErrors.INVALID('send it as a header or as a trailer, not both');
    // Node joins repeated unknown headers with ", ": several checksums read as a malformed one.
    if (header !== undefined) return new ChecksumVerifier(request, parseChecksum(String(header)));
    if (!trailer) return undefined;
    // HTTP/1.1 has trailers only after a chunked body.
    if (!/\bchunked\b/i.test(request.headers['transfer-encoding'] ?? '')) throw new ChecksumErrors.INVALID('a trailer needs a chunked body (Transfer-Encoding: chunked, no Content-Length)');
    return new ChecksumVerifier(request, undefined);
  }

  update(chunk: Buffer): void {
    for (const digest of this.digests.values()) digest.update(chunk);
  }

  matches(): boolean {
    let expected: ExpectedChecksum;
    try {
      expected = this.expected ?? this.fromTrailer();
    } catch (error) {
      this.failure = error as CodedError;
      return false;
    }
    const actual = this.digests.get(expected.algorithm)!.digest();
    if (actual.equals(expected.digest)) return true;
    this.failure = new ChecksumErrors.MISMATCH(`${expected.algorithm} of the bytes received is ${actual.toString('base64')}`);
    return false;
  }

  /** Why `matches()` said no: 460, or 400 for a trailer that was missing or malformed. */
  refusal(): CodedError {
    return this.failure ?? new ChecksumErrors.MISMATCH('not verified');
  }

  private fromTrailer(): ExpectedChecksum {
    const value = this.request.trailers['upload-checksum'];
    if (value === undefined) throw new ChecksumErrors.INVALID('the Upload-Checksum trailer announced in the Trailer header did not come');
    return parseChecksum(value);
  }
}

function announcesChecksumTrailer(request: IncomingMessage): boolean {
  const names = request.headers.trailer;
  return names !== undefined && names.split(',').some((name) => name.trim().toLowerCase() === 'upload-checksum');
}

/** The error to answer a refused body with; a 460 gets its reason phrase on the status line. */
export function checksumRefusal(verifier: ChecksumVerifier, reply: FastifyReply): CodedError {
  const error = verifier.refusal();
  if (error.statusCode === 460) reply.raw.statusMessage = CHECKSUM_MISMATCH_STATUS_TEXT;
  return error;
}
