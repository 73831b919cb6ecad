// S3's own size limits, apart from s3.ts: the routes and finish.ts need them at startup, and
// importing them from s3.ts loaded the whole AWS SDK (~10 MB RSS) into every tusport, S3 or not.

/** S3 refuses a POST upload larger than this (and so does the policy when there is no maxSize). */
export const POST_MAX_BYTES = 5 * 1024 ** 3;
/** The largest object S3 stores (what a multipart upload may reach when the endpoint has no maxSize). */
export const OBJECT_MAX_BYTES = 5 * 1024 ** 4;
