import fs from 'node:fs/promises';

/**
 * Names held at once while listing: the files API looks at up to 2,000 ids per page
 * (src/files/list.ts), so one pass over the directory serves a page; a reader that wants more
 * gets the next window from another pass.
 */
const WINDOW = 2048;

/**
 * The upload ids of a disk store directory in ascending order, after `after`: the names of its
 * sidecars (`<id>.json`, `id` matching `safeId`). The directory is read as a stream and only the
 * smallest `window` names are kept: a directory of 100,000 uploads is 200,000 entries, and
 * reading them all into one array (then sorting) for every page made each list request allocate
 * tens of MiB (the server peaked at 555 MiB during 20 list requests) and take most of a second.
 * Every page still reads the whole directory: without an index the disk cannot say which names
 * come first. A directory that does not exist lists nothing.
 */
export async function* sortedIds(directory: string, after: string | undefined, safeId: RegExp, window = WINDOW): AsyncGenerator<string> {
  let start = after === undefined ? undefined : `${after}.json`;
  for (;;) {
    const names = await smallestSidecarNames(directory, start, safeId, window);
    for (const name of names) yield name.slice(0, -'.json'.length);
    if (names.length < window) return;
    start = names.at(-1);
  }
}

/** The `window` smallest sidecar names above `start`, sorted; never more than twice that many held. */
async function smallestSidecarNames(directory: string, start: string | undefined, safeId: RegExp, window: number): Promise<string[]> {
  let dir;
  try {
    dir = await fs.opendir(directory, { bufferSize: 1024 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  let kept: string[] = [];
  // Once `window` names are kept, nothing at or above the largest of them can be among the first.
  let ceiling: string | undefined;
  for await (const entry of dir) {
    const name = entry.name;
    if (!name.endsWith('.json') || (start !== undefined && name <= start) || (ceiling !== undefined && name >= ceiling)) continue;
    if (!safeId.test(name.slice(0, -'.json'.length))) continue;
    kept.push(name);
    if (kept.length >= 2 * window) {
      kept = kept.sort().slice(0, window);
      ceiling = kept.at(-1);
    }
  }
  return kept.sort().slice(0, window);
}
