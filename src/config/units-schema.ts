import { z } from 'zod';
import { parseByteSize, parseDuration } from './units.js';

const BYTE_SIZE_HINT = 'a byte size: a whole number of bytes or a string like "100MB" or "5MiB"';
const DURATION_HINT = 'a duration: milliseconds or a string like "30s", "10m", "24h"';

/** A field given as a number or a string with units, parsed to a number by `parse`. */
function withUnits(format: string, hint: string, parse: (value: unknown) => number | undefined) {
  return z
    .union([z.number(), z.string()], { error: `expected ${hint}` })
    .transform((value, ctx) => {
      const parsed = parse(value);
      if (parsed === undefined) {
        ctx.issues.push({ code: 'custom', message: `expected ${hint}, got ${JSON.stringify(value)}`, input: value });
        return z.NEVER;
      }
      return parsed;
    })
    .meta({ format });
}

export const byteSize = () => withUnits('byte size', BYTE_SIZE_HINT, parseByteSize);
export const duration = () => withUnits('duration', DURATION_HINT, parseDuration);

