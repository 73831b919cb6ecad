import ms from 'ms';

const BYTE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * Parse `1048576`, `'100MB'`, `'5 MiB'`, `'1.5GiB'`. Decimal units are powers of 1000 and binary
 * units powers of 1024, as their names say (the `bytes` package reads `MB` as 2^20, which surprises
 * anyone sizing S3 parts or nginx limits, so this small parser is ours).
 * Returns undefined for anything that is not a whole, non-negative, safe number of bytes.
 */
export function parseByteSize(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  if (!match) return undefined;
  const unit = (match[2] ?? '').toLowerCase() || 'b';
  const factor = BYTE_UNITS[unit];
  if (factor === undefined) return undefined;
  const bytes = Number(match[1]) * factor;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** Parse `30000` (milliseconds), `'30s'`, `'24h'`, `'7d'` into milliseconds. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  }
  if (typeof value !== 'string' || value.length > 100) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const parsed = ms(trimmed as ms.StringValue) as number | undefined;
  return typeof parsed === 'number' && Number.isSafeInteger(parsed) && parsed >= 0 ? parsed : undefined;
}
