import { z } from 'zod';
import { parseUrlTemplate, placeholdersOf } from '../endpoints/template.js';

/**
 * A store location (disk `directory`, S3 `prefix`) that leaves out some of the endpoint's URL
 * params puts every value's uploads in one place: `/users/{username}/uploads` stored in `./data`
 * mixes everyone's files in one directory. Ownership is still checked per upload (the sidecar
 * records the params, so alice's upload is 404 under /users/bob), which is why this is a startup
 * warning and not an error: a config may want one place on purpose (one bucket per project, the
 * app sorting files in a hook). `sharedAcrossParams: true` says so and silences the warning.
 */

export const sharedAcrossParamsKey = () =>
  z
    .boolean()
    .default(false)
    .meta({
      description:
        "The location deliberately leaves out some of the endpoint's URL params, so their uploads share it (ownership is still checked per upload). Without it, tusport logs a warning at startup naming the endpoint and the params.",
    });

interface StoreLike {
  type: string;
  directory?: string;
  prefix?: string;
  sharedAcrossParams?: boolean;
}

export interface SharedLocation {
  endpoint: string;
  /** `store.directory` or `store.prefix`. */
  key: string;
  location: string;
  /** The URL params the location does not use. */
  params: string[];
}

/** Endpoints whose store location leaves out URL params without `sharedAcrossParams: true`. */
export function sharedStoreLocations(endpoints: readonly { path: string; store: StoreLike }[]): SharedLocation[] {
  return endpoints.flatMap(({ path, store }) => {
    if (store.sharedAcrossParams) return [];
    const [key, location] = store.type === 'disk' ? ['store.directory', store.directory ?? ''] : ['store.prefix', store.prefix ?? ''];
    const used = new Set(placeholdersOf(location));
    const params = parseUrlTemplate(path).params.filter((param) => !used.has(param));
    return params.length > 0 ? [{ endpoint: path, key, location, params }] : [];
  });
}

export function describeSharedLocation({ endpoint, key, location, params }: SharedLocation): string {
  const names = params.map((p) => `{${p}}`).join(', ');
  return `endpoint ${endpoint}: ${key} ${JSON.stringify(location)} does not use ${names}, so uploads for every value of ${names} share it; put ${names} into it, or set store.sharedAcrossParams: true if that is meant`;
}
