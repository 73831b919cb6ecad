/** Codes S3 (and S3-compatible servers) use for "no such object / upload". */
const NOT_FOUND_NAMES = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);

interface S3ErrorShape {
  name?: string;
  code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
}

export function isS3NotFound(error: unknown): boolean {
  const e = error as S3ErrorShape | undefined;
  return NOT_FOUND_NAMES.has(e?.name ?? '') || (e?.$metadata?.httpStatusCode === 404 && e?.name !== 'NoSuchBucket');
}

export function isNoSuchUpload(error: unknown): boolean {
  const e = error as S3ErrorShape | undefined;
  // AWS says NoSuchUpload; some S3-compatible servers answer NoSuchKey for a finished upload.
  return e?.name === 'NoSuchUpload' || e?.name === 'NoSuchKey';
}

/**
 * One line an operator can act on: what S3 said (or why it could not be reached). Never includes
 * credentials: SDK errors carry the request id and status, not the signing keys.
 */
export function describeS3Error(error: unknown): string | undefined {
  const e = error as S3ErrorShape | undefined;
  if (!e || typeof e !== 'object') return undefined;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && e.name) {
    const hints: Record<string, string> = {
      InvalidAccessKeyId: 'the access key id is not known to the S3 server',
      SignatureDoesNotMatch: 'the secret access key is wrong',
      AccessDenied: 'the credentials are not allowed to use this bucket',
      NoSuchBucket: 'the bucket does not exist',
    };
    return `S3 answered ${status} ${e.name}${hints[e.name] ? `: ${hints[e.name]}` : ''}`;
  }
  const code = e.code ?? e.name;
  if (code && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EHOSTUNREACH|EPIPE|TimeoutError|RequestTimeout)/.test(code)) {
    return `S3 unreachable: ${e.message ?? code}`;
  }
  return undefined;
}
