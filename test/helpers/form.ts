import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** One multipart part, written by hand so a test can send exactly what it means (or malformed). */
export interface Part {
  name: string;
  filename?: string;
  type?: string;
  body: Buffer | string;
}

export const BOUNDARY = 'tusportformboundary7MA4YWxkTrZu0gW';

/** A multipart/form-data body of `parts`; `end: false` leaves the closing boundary off (a cut body). */
export function multipart(parts: Part[], options: { end?: boolean } = {}): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const filename = part.filename === undefined ? '' : `; filename="${part.filename}"`;
    const type = part.type === undefined ? '' : `\r\nContent-Type: ${part.type}`;
    chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"${filename}${type}\r\n\r\n`));
    chunks.push(Buffer.isBuffer(part.body) ? part.body : Buffer.from(part.body));
    chunks.push(Buffer.from('\r\n'));
  }
  if (options.end !== false) chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

export const MULTIPART = { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}` } as const;

/** `curl -F` against `url`: status and body. Each `form` entry is a `-F` argument. */
export async function curlForm(url: string, form: string[], headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const args = ['-sS', '-o', '-', '-w', '\n%{http_code}', ...Object.entries(headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]), ...form.flatMap((f) => ['-F', f]), url];
  const { stdout } = await exec('curl', args, { maxBuffer: 16 * 1024 * 1024 });
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}
