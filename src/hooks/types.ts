import type { HookRequest } from './events.js';
import type { HookResult } from './response.js';

/** What a library user's `onUploadDone` receives for each finished upload. */
export interface FinishedUpload {
  /** The opaque upload id (last segment of the upload URL). */
  id: string;
  /** Size in bytes. */
  size: number;
  /** Decoded tus metadata as the client sent it (values may be null for keys without a value). */
  metadata: Record<string, string | null>;
  /** The endpoint's URL template, e.g. `/users/{username}/uploads`. */
  endpoint: string;
  /** The template params the upload was created under, e.g. `{ username: 'alice' }`. */
  params: Record<string, string>;
  /** Where the finished file is: an absolute path for disk stores. */
  path: string;
  /** The upload's URL path, e.g. `/users/alice/uploads/<id>`. */
  url: string;
}

/** @deprecated Use a `function` hook with a `post-finish` handler: it is retried and survives restarts. */
export type UploadDoneHandler = (upload: FinishedUpload) => void | Promise<void>;

/**
 * A library hook for one event: gets the same JSON a tusd receiver would (already parsed), and
 * may return a tusd `HookResponse` (or nothing: go ahead). Throwing counts as a hook failure.
 */
export type HookFunction = (request: HookRequest) => HookResult | Promise<HookResult>;
