/**
 * What changed between the interop versions of "Resumable Uploads for HTTP"
 * (draft-ietf-httpbis-resumable-upload), in one table: the IETF door reads every version
 * difference from here rather than testing version numbers where it handles a request.
 *
 * Interop version -> draft: 3 = -01, 4 = -02, 5 = -03, 6 = -04 and -05, 7 = -06 to -08,
 * 8 = -09 to -11 (each draft's "Draft Version Identification" section and its "Changes"
 * appendix, httpwg/http-extensions draft-ietf-httpbis-resumable-upload.md; tusd's
 * interopVersion constants say the same for 3 to 6). Apple's URLSession sends 3 on iOS 17, 5 on
 * iOS 18.0 and 6 on iOS 18.1 / macOS 15.1; tus-js-client sends 5 ('ietf-draft-03') and 6
 * ('ietf-draft-05'). The full table with its sources is docs/ietf.md.
 */
export interface InteropVersion {
  version: number;
  /** The drafts that carry this interop version. */
  drafts: string;
  /**
   * How a request says whether its body ends the upload, and how answers say it:
   * `Upload-Incomplete: ?1` (3; absent means complete) or `Upload-Complete: ?1|?0` (4 on; required).
   */
  completeHeader: 'upload-incomplete' | 'upload-complete';
  /** The media type an append (PATCH) must carry; undefined: any (the body is just bytes). */
  appendMediaType: string | undefined;
  /** The `Upload-Length` header exists (request and answers, HEAD included). */
  uploadLength: boolean;
  /**
   * `Upload-Limit` exists: on OPTIONS, the 104, creation answers, HEAD and 413s; and the key
   * naming the upload's remaining lifetime in it (undefined: none).
   */
  uploadLimit: { lifetimeKey: 'expires' | 'max-age' } | undefined;
  /** The status of a successful append that does not complete the upload (201 required up to -05). */
  appendStatus: 201 | 204;
  /** HEAD and DELETE must not carry Upload-Offset or the completeness header (400 otherwise). */
  refusesStateHeadersOnHeadAndDelete: boolean;
  /**
   * A non-empty append to a completed upload is an inconsistent length (400
   * inconsistent-upload-length); an empty one stays 400 completed-upload. Before: always completed-upload.
   */
  completedNonEmptyIsInconsistentLength: boolean;
}

const PARTIAL_UPLOAD = 'application/partial-upload';

// Each row is the previous one with what its drafts changed (sections and "Changes" entries cited).

// -01 (interop 3), "Upload Creation Procedure": `Upload-Incomplete` (absent = complete), creation by
// any method but GET/HEAD/DELETE/OPTIONS; appends answered 201; HEAD and DELETE with Upload-Offset or
// Upload-Incomplete are 400; offset mismatch 409; no length, limits, media type or problem types.
const V3: InteropVersion = {
  version: 3,
  drafts: '-01',
  completeHeader: 'upload-incomplete',
  appendMediaType: undefined,
  uploadLength: false,
  uploadLimit: undefined,
  appendStatus: 201,
  refusesStateHeadersOnHeadAndDelete: true,
  completedNonEmptyIsInconsistentLength: false,
};
// -02 (interop 4), "Since -01": Upload-Incomplete replaced by Upload-Complete (required).
const V4: InteropVersion = { ...V3, version: 4, drafts: '-02', completeHeader: 'upload-complete' };
// -03 (interop 5), "Since -02": 104 progress (Upload-Offset) MAY be sent; HEAD may answer 200. No
// wire difference tusport acts on (no Upload-Length yet: it came with -05).
const V5: InteropVersion = { ...V4, version: 5, drafts: '-03' };
// -04 and -05 (interop 6), "Since -03": PATCH must be application/partial-upload; Upload-Limit
// (max-size, min-size, max-append-size, min-append-size, expires); problem types mismatching-upload-offset
// (409) and completed-upload (400). "Since -04" (-05, no bump): Upload-Length; OPTIONS MUST carry
// Upload-Limit. Appends still answered 201 ("Upload Append"), inconsistent lengths a plain 400.
const V6: InteropVersion = { ...V5, version: 6, drafts: '-04, -05', appendMediaType: PARTIAL_UPLOAD, uploadLength: true, uploadLimit: { lifetimeKey: 'expires' } };
// -06 to -08 (interop 7), "Since -05": `expires` renamed `max-age`; problem type inconsistent-upload-length
// (400); appends answered with any 2xx and Upload-Complete (examples: 204); HEAD/DELETE no longer refuse state headers.
const V7: InteropVersion = { ...V6, version: 7, drafts: '-06 to -08', uploadLimit: { lifetimeKey: 'max-age' }, appendStatus: 204, refusesStateHeadersOnHeadAndDelete: false };
// -09 to -11 (interop 8), "Since -08": limits MUST be announced (HEAD "MUST indicate the limits"); a
// section on 104. "Since -09": OPTIONS MUST carry Accept-Patch with application/partial-upload. "Upload
// Append": a non-empty append to a completed upload MUST be treated as an inconsistent length.
const V8: InteropVersion = { ...V7, version: 8, drafts: '-09 to -11', completedNonEmptyIsInconsistentLength: true };

export const INTEROP_VERSIONS: ReadonlyMap<number, InteropVersion> = new Map([V3, V4, V5, V6, V7, V8].map((entry) => [entry.version, entry]));

/** The draft's own headers, in both directions (CORS allows and exposes them). */
export const IETF_HEADERS = ['Upload-Draft-Interop-Version', 'Upload-Complete', 'Upload-Incomplete', 'Upload-Limit'];

export const SERVED_INTEROP_VERSIONS = [...INTEROP_VERSIONS.keys()];

/**
 * The draft's problem types (IANA "HTTP Problem Types" registry), the status each answers with,
 * and the interop version that introduced it (before it, `about:blank` with the same status).
 */
export const PROBLEMS = {
  mismatchingOffset: { type: 'https://iana.org/assignments/http-problem-types#mismatching-upload-offset', status: 409, title: 'offset from request does not match offset of resource', since: 6 },
  completedUpload: { type: 'https://iana.org/assignments/http-problem-types#completed-upload', status: 400, title: 'upload is already completed', since: 6 },
  inconsistentLength: { type: 'https://iana.org/assignments/http-problem-types#inconsistent-upload-length', status: 400, title: 'inconsistent length values for upload', since: 7 },
} as const;

export type ProblemName = keyof typeof PROBLEMS;

/** How a stored upload's state is spelled in an answer of this version. */
export function completeHeaderValue(version: InteropVersion, complete: boolean): [string, string] {
  return version.completeHeader === 'upload-incomplete' ? ['Upload-Incomplete', complete ? '?0' : '?1'] : ['Upload-Complete', complete ? '?1' : '?0'];
}
