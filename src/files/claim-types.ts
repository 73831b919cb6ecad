/**
 * The public shapes of a claim (`app.tusport.claim()`, `POST <upload URL>/claim`). Kept free of
 * store and @tus/server types: they are part of the public API.
 */

export interface ClaimOptions {
  /** A final path (template, same placeholders as `finalize.path`): only with `claim.allowPath`. */
  path?: string | undefined;
  /** Metadata to add to (or replace in) the upload's own. */
  metadata?: Record<string, string> | undefined;
}

/** `app.tusport.claim(endpoint, id, options)`: the app's form handler claims for its user. */
export interface AppClaimOptions extends ClaimOptions {
  /** The endpoint's URL template params (`{ username: 'alice' }`); required when the template has any. */
  params?: Record<string, string> | undefined;
  /** Who claims (recorded in the sidecar's `tusport.claim.by`); null when unset. */
  by?: string | undefined;
}

/** What a claim answers (also when the upload was claimed before: the same answer). */
export interface ClaimResult {
  id: string;
  size: number;
  /** Where the file is now, relative to the store's location for its params; null when it was not moved. */
  location: string | null;
  claimedAt: string | null;
  claimedBy: string | null;
  metadata: Record<string, string | null>;
}
