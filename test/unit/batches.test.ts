import { describe, expect, it } from 'vitest';
import { mapInBatches } from '../../src/stores/batches.js';

async function* numbers(count: number): AsyncGenerator<number> {
  for (let i = 0; i < count; i++) yield i;
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of source) out.push(item);
  return out;
}

describe('mapInBatches', () => {
  it('maps every item in order, at most `size` in flight at once', async () => {
    let inFlight = 0;
    let most = 0;
    const mapped = await collect(
      mapInBatches(numbers(37), 8, async (n) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, (n * 7) % 5));
        inFlight--;
        return n * 2;
      }),
    );
    expect(mapped).toEqual(Array.from({ length: 37 }, (_, n) => n * 2));
    expect(most).toBe(8);
  });

  it('yields nothing for an empty source, and passes a failure on', async () => {
    expect(await collect(mapInBatches(numbers(0), 4, async (n) => n))).toEqual([]);
    const failing = mapInBatches(numbers(10), 4, async (n) => {
      if (n === 5) throw new Error('no sidecar 5');
      return n;
    });
    await expect(collect(failing)).rejects.toThrow('no sidecar 5');
  });
});
