import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * HTTP hook signatures: `Tusport-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
 * The timestamp is signed with the body so a captured request cannot be replayed later than the
 * receiver's tolerance; a retry is signed afresh. Receivers verify with `verifyHookSignature`.
 */

export const SIGNATURE_HEADER = 'Tusport-Signature';
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

function hmac(secret: string, timestamp: number, body: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The `Tusport-Signature` header value for `body`, signed at `timestamp` (unix seconds). */
export function signHookBody(secret: string, body: string | Buffer, timestamp = Math.floor(Date.now() / 1000)): string {
  return `t=${timestamp},v1=${hmac(secret, timestamp, body).toString('hex')}`;
}

/**
 * True when `header` (the `Tusport-Signature` value) signs exactly `body` (the raw request body,
 * before any JSON parsing) with `secret`, at a timestamp within `toleranceSeconds` of now.
 * Several `v1=` entries are accepted (any one matching is enough).
 */
export function verifyHookSignature(
  secret: string,
  header: string | string[] | null | undefined,
  body: string | Buffer,
  toleranceSeconds = 300,
  nowSeconds = Date.now() / 1000,
): boolean {
  if (typeof header !== 'string') return false;
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && value && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && value && /^[0-9a-f]{64}$/i.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = hmac(secret, timestamp, body);
  return signatures.some((signature) => timingSafeEqual(signature, expected));
}
