/**
 * What changed between the interop versions of "Resumable Uploads for HTTP"
 * (draft-ietf-httpbis-resumable-upload), in one table: the IETF door reads every version
 * difference from here rather than testing version numbers where it handles a request.
 *
 * Interop version -> draft: 3 = -01, 4 = -02, 5 = -03, 6 = -04 and -05, 7 = -06 to -08,
 * 8 = -09 to -11 (tusd's numbering for 3 to 6; tus-js-client sends 5 and 6; Apple's URLSession
 * sends 3 on iOS 17, 5 on iOS 18.0 and 6 on iOS 18.1 / macOS 15.1).
 */
export interface InteropVersion {
  version: number;
  /**
   * How a request says whether its body ends the upload, and how answers say it:
   * `Upload-Incomplete: ?1` (3; absent means complete) or `Upload-Complete: ?1|?0` (4 on; required).
   */
  completeHeader: 'upload-incomplete' | 'upload-complete';
  /** The media type an append (PATCH) must carry; undefined: any (the body is just bytes). */
  appendMediaType: string | undefined;
  /** Offset retrieval (HEAD) and creation answers carry Upload-Length once it is known. */
  reportsLength: boolean;
  /** OPTIONS and 104 carry Upload-Limit (min-size, max-size, max-append-size). */
  uploadLimit: boolean;
  /** Errors the draft names carry its problem types (RFC 9457 `type`); before: `about:blank`. */
  problemTypes: boolean;
}

const PARTIAL_UPLOAD = 'application/partial-upload';

export const INTEROP_VERSIONS: ReadonlyMap<number, InteropVersion> = new Map(
  (
    [
      { version: 3, completeHeader: 'upload-incomplete', appendMediaType: undefined, reportsLength: false, uploadLimit: false, problemTypes: false },
      { version: 4, completeHeader: 'upload-complete', appendMediaType: undefined, reportsLength: false, uploadLimit: false, problemTypes: false },
      { version: 5, completeHeader: 'upload-complete', appendMediaType: undefined, reportsLength: true, uploadLimit: false, problemTypes: false },
      { version: 6, completeHeader: 'upload-complete', appendMediaType: PARTIAL_UPLOAD, reportsLength: true, uploadLimit: true, problemTypes: true },
      { version: 7, completeHeader: 'upload-complete', appendMediaType: PARTIAL_UPLOAD, reportsLength: true, uploadLimit: true, problemTypes: true },
      { version: 8, completeHeader: 'upload-complete', appendMediaType: PARTIAL_UPLOAD, reportsLength: true, uploadLimit: true, problemTypes: true },
    ] satisfies InteropVersion[]
  ).map((entry) => [entry.version, entry]),
);

/** The draft's own headers, in both directions (CORS allows and exposes them). */
export const IETF_HEADERS = ['Upload-Draft-Interop-Version', 'Upload-Complete', 'Upload-Incomplete', 'Upload-Limit'];

export const SERVED_INTEROP_VERSIONS = [...INTEROP_VERSIONS.keys()];

/** The draft's problem types (IANA "HTTP Problem Types" registry) and the status each answers with. */
export const PROBLEMS = {
  mismatchingOffset: { type: 'https://iana.org/assignments/http-problem-types#mismatching-upload-offset', status: 409, title: 'offset from request does not match offset of resource' },
  completedUpload: { type: 'https://iana.org/assignments/http-problem-types#completed-upload', status: 400, title: 'upload is already completed' },
  inconsistentLength: { type: 'https://iana.org/assignments/http-problem-types#inconsistent-upload-length', status: 400, title: 'inconsistent length values for upload' },
} as const;

export type ProblemName = keyof typeof PROBLEMS;

/** How a stored upload's state is spelled in an answer of this version. */
export function completeHeaderValue(version: InteropVersion, complete: boolean): [string, string] {
  return version.completeHeader === 'upload-incomplete' ? ['Upload-Incomplete', complete ? '?0' : '?1'] : ['Upload-Complete', complete ? '?1' : '?0'];
}
