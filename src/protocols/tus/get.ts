/**
 * GET: download a finished upload. Ours (not @tus/server's, whose web-stream bridge crashes on a
 * cancelled download and copies filenames into headers unencoded); it lives with the files API
 * in src/files/download.ts (Range, ETag, conditional requests, signed links).
 */
export { handleDownload as handleGet } from '../../files/download.js';
