import { describe, expect, it } from 'vitest';
import { planParts } from '../../src/stores/s3/concat.js';

const MIN = 5;

/** The bytes each planned part covers, in order, as `key:start-end` pieces. */
function layout(sizes: number[], copyPartBytes?: number) {
  const sources = sizes.map((size, index) => ({ key: `p${index}`, size }));
  const plans = planParts(sources, MIN, copyPartBytes);
  const pieces = plans.map((plan) => ('copy' in plan ? [plan.copy] : plan.upload));
  return { sources, plans, pieces };
}

describe('S3 concatenation part plan', () => {
  it('copies partials of at least minPartSize and gathers small ones', () => {
    expect(layout([6, 7]).plans).toEqual([{ copy: { key: 'p0', start: 0, end: 6 } }, { copy: { key: 'p1', start: 0, end: 7 } }]);
    expect(layout([1, 2, 1]).plans).toEqual([{ upload: [{ key: 'p0', start: 0, end: 1 }, { key: 'p1', start: 0, end: 2 }, { key: 'p2', start: 0, end: 1 }] }]);
    // A small run topped up from the next partial's head; its small rest gathered with the last.
    expect(layout([1, 7, 2]).plans).toEqual([
      { upload: [{ key: 'p0', start: 0, end: 1 }, { key: 'p1', start: 0, end: 4 }] },
      { upload: [{ key: 'p1', start: 4, end: 7 }, { key: 'p2', start: 0, end: 2 }] },
    ]);
    // A rest of at least minPartSize is copied; the last part may be small; empty partials vanish.
    expect(layout([1, 0, 12, 2]).plans).toEqual([
      { upload: [{ key: 'p0', start: 0, end: 1 }, { key: 'p2', start: 0, end: 4 }] },
      { copy: { key: 'p2', start: 4, end: 12 } },
      { copy: { key: 'p3', start: 0, end: 2 } },
    ]);
  });

  it('copies large partials in ranges of copyPartBytes, a short tail joined to the range before it', () => {
    expect(layout([23], 8).plans).toEqual([{ copy: { key: 'p0', start: 0, end: 8 } }, { copy: { key: 'p0', start: 8, end: 23 } }]);
    expect(layout([16, 2], 8).plans.map((plan) => ('copy' in plan ? plan.copy.end - plan.copy.start : -1))).toEqual([8, 8, 2]);
  });

  it('for any sizes and copy ranges: every byte once, in order, and every part but the last at least minPartSize', () => {
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let round = 0; round < 2000; round++) {
      const sizes = Array.from({ length: 1 + random(6) }, () => random(14));
      const { sources, pieces } = layout(sizes, round % 2 === 0 ? undefined : 1 + random(9));
      const covered = pieces.flat();
      const expected = sources.filter((s) => s.size > 0);
      // Contiguous, in order, nothing missing or twice.
      let index = 0;
      let offset = 0;
      for (const piece of covered) {
        if (offset === expected[index]!.size) (index += 1), (offset = 0);
        expect(piece.key).toBe(expected[index]!.key);
        expect(piece.start).toBe(offset);
        expect(piece.end).toBeGreaterThan(piece.start);
        offset = piece.end;
      }
      if (expected.length > 0) expect([index, offset]).toEqual([expected.length - 1, expected.at(-1)!.size]);
      const partSizes = pieces.map((part) => part.reduce((sum, piece) => sum + piece.end - piece.start, 0));
      expect(partSizes.slice(0, -1).every((size) => size >= MIN)).toBe(true);
    }
  });
});
