import { describe, expect, it } from 'vitest';
import { sanitizeFilename, sanitizeSegment, splitExtension } from '../../src/policy/filename.js';

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

describe('sanitizeFilename', () => {
  it.each([
    ['../x', 'x'],
    ['..\\x', 'x'],
    ['/etc/passwd', 'passwd'],
    ['C:\\Users\\bob\\report.pdf', 'report.pdf'],
    ['dir/', 'dir'],
    ['a/../../b.txt', 'b.txt'],
  ])('keeps only the basename of %j', (input, expected) => {
    expect(sanitizeFilename(input)).toBe(expected);
  });

  it.each([
    ['CON', '_CON'],
    ['con.txt', '_con.txt'],
    ['LPT9.log', '_LPT9.log'],
    ['nul.tar.gz', '_nul.tar.gz'],
    ['Aux', '_Aux'],
    ['COM1', '_COM1'],
    ['com¹.txt', '_com¹.txt'],
    ['CON .txt', '_CON .txt'],
  ])('prefixes the Windows device name %j', (input, expected) => {
    expect(sanitizeFilename(input)).toBe(expected);
  });

  it.each([['CONSOLE.txt'], ['COM10'], ['LPT0.log'], ['icon.png'], ['xcon']])('leaves %j alone (not a device name)', (input) => {
    expect(sanitizeFilename(input)).toBe(input);
  });

  it('removes NUL, C0, DEL and C1 controls', () => {
    expect(sanitizeFilename('a\u0000b')).toBe('ab');
    expect(sanitizeFilename('a\u0001\u001fb\u007f\u0085\u009f.txt')).toBe('ab.txt');
  });

  it('removes characters reserved on Windows or posix', () => {
    expect(sanitizeFilename('a<b>c:d"e|f?g*h.txt')).toBe('abcdefgh.txt');
  });

  it('removes bidi overrides, isolates and marks (no disguised extensions)', () => {
    expect(sanitizeFilename('evil\u202Egnp.exe')).toBe('evilgnp.exe');
    expect(sanitizeFilename('\u2066a\u2067b\u2068c\u2069\u200E\u200F\u202A\u202B\u202C\u202D.txt')).toBe('abc.txt');
  });

  it('removes zero-width and other invisible format characters, but keeps ZWJ/ZWNJ that scripts and emoji need', () => {
    expect(sanitizeFilename('re\u200Bport\u2060\u00AD\u2062.txt')).toBe('report.txt');
    expect(sanitizeFilename('\u{1F469}\u200D\u{1F4BB}.png')).toBe('\u{1F469}\u200D\u{1F4BB}.png');
    expect(sanitizeFilename('\u0645\u06CC\u200C\u062E.txt')).toBe('\u0645\u06CC\u200C\u062E.txt');
  });

  it('collapses whitespace (tabs and newlines become one space)', () => {
    expect(sanitizeFilename('my   holiday\t\n photo.jpg')).toBe('my holiday photo.jpg');
    expect(sanitizeFilename('a\u00a0\u3000b')).toBe('a b');
  });

  it('trims leading and trailing dots and spaces', () => {
    expect(sanitizeFilename('name. . ')).toBe('name');
    expect(sanitizeFilename('  .hidden')).toBe('hidden');
    expect(sanitizeFilename('...')).toBe('upload');
  });

  it.each([[''], ['   '], ['.'], ['..'], ['/'], ['\\\\'], ['\u202E'], ['\u0000'], ['<>']])('falls back to "upload" for %j', (input) => {
    expect(sanitizeFilename(input)).toBe('upload');
  });

  it.each([[undefined], [null], [42], [{}], [['a.txt']], [Symbol('x')]])('falls back to "upload" for non-string %s', (input) => {
    expect(sanitizeFilename(input)).toBe('upload');
  });

  it('normalises to NFC', () => {
    expect(sanitizeFilename('caf\u0065\u0301.txt')).toBe('caf\u00e9.txt');
    expect(sanitizeFilename('e\u0301')).toBe('é');
  });

  it('keeps emoji and non-Latin scripts', () => {
    expect(sanitizeFilename('😀 фото 写真.png')).toBe('😀 фото 写真.png');
    expect(sanitizeFilename('👨‍👩‍👧.txt')).toBe('👨‍👩‍👧.txt');
  });

  it('drops lone surrogates', () => {
    expect(sanitizeFilename('a\ud800b\udc00c.txt')).toBe('abc.txt');
  });

  it('limits a long ASCII name to 200 bytes, keeping the extension', () => {
    const result = sanitizeFilename(`${'a'.repeat(300)}.jpeg`);
    expect(bytes(result)).toBe(200);
    expect(result).toBe(`${'a'.repeat(195)}.jpeg`);
  });

  it('limits a long emoji name without splitting a surrogate pair', () => {
    const result = sanitizeFilename(`${'😀'.repeat(75)}.png`);
    expect(bytes(result)).toBeLessThanOrEqual(200);
    expect(result.endsWith('.png')).toBe(true);
    expect(result.isWellFormed()).toBe(true);
    expect(result).toBe(`${'😀'.repeat(49)}.png`);
  });

  it('limits a long multi-byte name at a grapheme boundary (no half ZWJ sequence)', () => {
    const family = '👨‍👩‍👧'; // 18 bytes
    const result = sanitizeFilename(`${family.repeat(20)}.txt`, 100);
    expect(result).toBe(`${family.repeat(5)}.txt`);
  });

  it('honours a custom maxBytes and still keeps the extension', () => {
    const result = sanitizeFilename(`${'é'.repeat(50)}.pdf`, 31);
    expect(result).toBe(`${'é'.repeat(13)}.pdf`);
    expect(bytes(result)).toBe(30);
  });

  it('shortens the whole name when the extension is invalid', () => {
    const result = sanitizeFilename(`${'a'.repeat(250)}.not-an-ext`);
    expect(result).toBe('a'.repeat(200));
  });

  it('does not leave a trailing dot or space after shortening', () => {
    const result = sanitizeFilename(`${'a'.repeat(194)} .  b.txt`);
    expect(result).toBe(`${'a'.repeat(194)}.txt`);
  });

  it('cuts one oversized grapheme by code points rather than dropping everything', () => {
    const zalgo = `x${'\u0301'.repeat(300)}`; // no precomposed x-acute, so NFC keeps it one cluster
    const result = sanitizeFilename(zalgo, 20);
    expect(bytes(result)).toBeLessThanOrEqual(20);
    expect(result.startsWith('x\u0301')).toBe(true);
  });

  it('refuses a maxBytes too small to hold the fallback', () => {
    expect(() => sanitizeFilename('x', 3)).toThrow(RangeError);
  });

  it('is idempotent', () => {
    for (const input of ['../CON.txt', 'evil\u202Egnp.exe', `${'😀'.repeat(75)}.png`, 'name. . ', 'e\u0301']) {
      const once = sanitizeFilename(input);
      expect(sanitizeFilename(once)).toBe(once);
    }
  });
});

describe('sanitizeSegment', () => {
  it('without keepExtension shortens the whole value', () => {
    expect(sanitizeSegment(`${'b'.repeat(40)}.png`, { maxBytes: 20, keepExtension: false, fallback: '_' })).toBe('b'.repeat(20));
  });

  it('uses the given fallback', () => {
    expect(sanitizeSegment('..', { maxBytes: 20, keepExtension: false, fallback: '_' })).toBe('_');
  });
});

describe('splitExtension', () => {
  it.each([
    ['photo.JPG', { stem: 'photo', ext: 'jpg' }],
    ['archive.tar.gz', { stem: 'archive.tar', ext: 'gz' }],
    ['README', { stem: 'README', ext: '' }],
    ['.bashrc', { stem: '.bashrc', ext: '' }],
    ['weird.not-ext', { stem: 'weird.not-ext', ext: '' }],
    ['x.é', { stem: 'x.é', ext: '' }],
    [`x.${'a'.repeat(17)}`, { stem: `x.${'a'.repeat(17)}`, ext: '' }],
    [`x.${'a'.repeat(16)}`, { stem: 'x', ext: 'a'.repeat(16) }],
    ['trailing.', { stem: 'trailing.', ext: '' }],
  ])('%j', (input, expected) => {
    expect(splitExtension(input)).toEqual(expected);
  });
});
