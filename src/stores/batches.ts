/**
 * `source`'s items through `map`, `size` at a time, in order. Store walks use it to read sidecars a
 * few dozen at once instead of one round trip after the other (S3: one GetObject each, ~1 ms on a
 * fast network and 40 ms on a slow one), while holding only one batch in memory.
 */
export async function* mapInBatches<T, R>(source: AsyncIterable<T>, size: number, map: (item: T) => Promise<R>): AsyncGenerator<R> {
  let batch: T[] = [];
  for await (const item of source) {
    batch.push(item);
    if (batch.length < size) continue;
    yield* await Promise.all(batch.map(map));
    batch = [];
  }
  if (batch.length > 0) yield* await Promise.all(batch.map(map));
}
