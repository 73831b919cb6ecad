/**
 * Client-supplied names (`Upload-Metadata: filename`, template params) made safe to use as one
 * file name on any common filesystem: no path, no invisible or reordering characters, nothing a
 * shell, Windows or a later `path.join` could read as structure, and a bounded UTF-8 length.
 */

/** The fallback for names that sanitise to nothing. */
export const FALLBACK_FILENAME = 'upload';

/**
 * Characters that are invisible or reorder what is shown, so that two names look alike or one
 * looks like another: bidi embeddings, overrides, isolates and marks (`evil\u202Egnp.exe` displays
 * as `evilexe.png`), zero-width and other format characters (`ali\u200Bce` looks like `alice`),
 * and the line/paragraph separators. That is Unicode's Cf category except ZWNJ and ZWJ
 * (U+200C/U+200D), which Persian, Indic scripts and emoji sequences need. File names lose them;
 * template params that contain them are refused (src/endpoints/template.ts).
 */
export const INVISIBLE_CHARACTER = /(?![\u200c\u200d])[\p{Cf}\u2028\u2029]/u;
const INVISIBLE_CHARACTERS = new RegExp(INVISIBLE_CHARACTER.source, 'gu');
// C0, DEL, C1 controls and characters reserved on Windows or posix (NUL is in C0).
// biome-ignore lint: control characters are exactly what we strip
const STRIP = /[\u0000-\u001f\u007f-\u009f<>:"/\\|?*]/g;
// Windows refuses these as a name's part before the first dot, in any case, with any extension.
const DEVICE_NAME = /^(con|prn|aux|nul|com[1-9¹²³]|lpt[1-9¹²³]|conin\$|conout\$|clock\$)$/i;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const EXTENSION = /^[a-z0-9]{1,16}$/;
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

export interface SegmentOptions {
  /** Longest result in UTF-8 bytes (at least 16). */
  maxBytes: number;
  /** Keep `.ext` when shortening (file names); off for directory names and params. */
  keepExtension: boolean;
  /** Result when nothing usable is left. */
  fallback: string;
}

/** A client's file name as one safe path segment (see the module comment); `upload` when empty. */
export function sanitizeFilename(name: unknown, maxBytes = 200): string {
  return sanitizeSegment(name, { maxBytes, keepExtension: true, fallback: FALLBACK_FILENAME });
}

/** The general form behind `sanitizeFilename`, also used for template params and rendered segments. */
export function sanitizeSegment(value: unknown, options: SegmentOptions): string {
  const { maxBytes, keepExtension, fallback } = options;
  if (!Number.isInteger(maxBytes) || maxBytes < 16) throw new RangeError(`maxBytes must be an integer >= 16, got ${maxBytes}`);
  if (typeof value !== 'string') return fallback;
  // Lone surrogates cannot be encoded as UTF-8 file names; NFC so `e\u0301` and `é` are one name.
  let name = value.replace(LONE_SURROGATE, '').normalize('NFC');
  // Basename only: the last non-empty segment by either separator (`C:\x\y` and `../y` are `y`).
  name = name.split(/[/\\]/).filter((segment) => segment !== '').pop() ?? '';
  // Whitespace first so a tab or newline becomes a space rather than vanishing with the controls.
  name = trimEnds(name.replace(/\s+/g, ' ').replace(STRIP, '').replace(INVISIBLE_CHARACTERS, '').replace(/ {2,}/g, ' '));
  if (name === '') return fallback;
  name = truncate(name, maxBytes, keepExtension);
  if (isDeviceName(name)) name = truncate(`_${name}`, maxBytes, keepExtension);
  return name === '' ? fallback : name;
}

/** `photo.JPG` → `{ stem: 'photo', ext: 'jpg' }`; no ext unless it is 1-16 ASCII letters/digits. */
export function splitExtension(name: string): { stem: string; ext: string } {
  const dot = extensionDot(name);
  if (dot === -1) return { stem: name, ext: '' };
  return { stem: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/** Index of the dot that starts a valid extension, or -1 (a leading dot is a name, not an ext). */
function extensionDot(name: string): number {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return -1;
  return EXTENSION.test(name.slice(dot + 1).toLowerCase()) ? dot : -1;
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Leading/trailing dots and spaces: hidden files, and names Windows silently changes. */
function trimEnds(name: string): string {
  return name.replace(/^[. ]+|[. ]+$/g, '');
}

function isDeviceName(name: string): boolean {
  const beforeDot = name.split('.')[0] ?? '';
  return DEVICE_NAME.test(beforeDot.trimEnd());
}

/**
 * Shorten to `maxBytes` UTF-8 bytes at a grapheme boundary (never half a code point, nor half an
 * emoji sequence), keeping the extension when there is room for it and some of the stem.
 */
function truncate(name: string, maxBytes: number, keepExtension: boolean): string {
  if (utf8Bytes(name) <= maxBytes) return name;
  const dot = keepExtension ? extensionDot(name) : -1;
  const suffix = dot === -1 ? '' : name.slice(dot);
  const stem = dot === -1 ? name : name.slice(0, dot);
  const budget = maxBytes - utf8Bytes(suffix);
  // `suffix` is at most 17 bytes and maxBytes at least 16, so an ext only fits beside a stem
  // when maxBytes is comfortably larger; otherwise shorten the whole name.
  if (suffix !== '' && budget < 1) return truncate(name, maxBytes, false);
  const cut = trimEnds(cutToBytes(stem, budget));
  if (cut === '') return suffix === '' ? '' : trimEnds(cutToBytes(name, maxBytes));
  return `${cut}${suffix}`;
}

function cutToBytes(text: string, budget: number): string {
  let out = '';
  let used = 0;
  for (const { segment } of graphemes.segment(text)) {
    const size = utf8Bytes(segment);
    if (used + size <= budget) {
      out += segment;
      used += size;
      continue;
    }
    // One oversized cluster first (e.g. a letter under hundreds of combining marks): keep what
    // fits of it by code points rather than nothing.
    if (out === '') for (const point of segment) {
      if (used + utf8Bytes(point) > budget) break;
      out += point;
      used += utf8Bytes(point);
    }
    break;
  }
  return out;
}
