import { describe, expect, it } from 'vitest';
import { configReference } from '../../src/config/reference.js';

/** The generated reference (docs/configuration.md) for the unions it once garbled. */
const table = configReference();
const row = (key: string) => {
  const line = table.split('\n').find((l) => l.startsWith(`| \`${key}\` |`));
  if (!line) throw new Error(`no row for ${key}`);
  const [type, defaultValue, description] = line.slice(1, -1).split(/(?<!\\)\|/).slice(1).map((cell) => cell.trim());
  return { type, default: defaultValue, description };
};

describe('config reference: unions are documented per variant', () => {
  it('store.type lists both kinds and describes each', () => {
    const type = row('endpoints[].store.type');
    expect(type.type).toBe('"disk" \\| "s3"');
    expect(type.default).toBe('*required*');
    expect(type.description).toMatch(/`disk`: Store uploads as files on local disk\..*`s3`: Store uploads as S3 objects/);
  });

  it("each store kind's keys say which kind they belong to and are required only there", () => {
    expect(row('endpoints[].store.directory')).toMatchObject({ default: '*required*', description: expect.stringMatching(/^\(`type`: `disk`\) Directory/) });
    expect(row('endpoints[].store.bucket')).toMatchObject({ default: '*required*', description: expect.stringMatching(/^\(`type`: `s3`\) Bucket/) });
    expect(row('endpoints[].store.region')).toMatchObject({ default: '`"us-east-1"`', description: expect.stringMatching(/^\(`type`: `s3`\)/) });
  });

  it('auth.type lists every kind with its description', () => {
    const type = row('endpoints[].auth.type');
    expect(type.type).toBe('"none" \\| "bearer" \\| "jwt" \\| "signed" \\| "function"');
    for (const kind of ['none', 'bearer', 'jwt', 'signed', 'function']) expect(type.description).toContain(`\`${kind}\`: `);
  });

  it('a key several kinds share is one row naming them, required where it is', () => {
    expect(row('endpoints[].auth.secret')).toMatchObject({
      default: '*required* with `signed`',
      description: expect.stringMatching(/^\(`type`: `jwt`, `signed`\) Shared secret/),
    });
    expect(row('endpoints[].auth.tokenFrom').description).toMatch(/^\(`type` other than `none`\)/);
  });

  it('token entries: token and sha256 are alternatives, each described', () => {
    for (const key of ['token', 'sha256']) {
      const entry = row(`endpoints[].auth.tokens[].${key}`);
      expect(entry.default).toBe('*one of* `token`, `sha256`');
      expect(entry.description?.length).toBeGreaterThan(10);
    }
    expect(row('endpoints[].auth.tokens[].id').default).toBe('*required*');
  });

  it('a union with a default kind shows it (outbox.type)', () => {
    expect(row('outbox.type')).toMatchObject({ type: '"disk" \\| "redis"', default: '`"disk"`' });
    expect(row('outbox.url').description).toMatch(/^\(`type`: `redis`\)/);
  });

  it('a byte-size default inside a boolean-or-section key shows (form.maxFieldSize, 4 KiB)', () => {
    expect(row('endpoints[].form.maxFieldSize').default).toBe('`4096`');
    expect(row('endpoints[].form.maxFiles').default).toBe('`10`');
  });

  it('defaults of keys that only some kinds of a section have show (S3 store, jwt auth, direct)', () => {
    expect(row('endpoints[].store.partSize').default).toBe('`8388608`');
    expect(row('endpoints[].store.minPartSize').default).toBe('`5242880`');
    expect(row('endpoints[].store.connectTimeout').default).toBe('`5000` ms');
    expect(row('endpoints[].store.requestTimeout').default).toBe('`30000` ms');
    expect(row('endpoints[].auth.jwksTimeout').default).toBe('`5000` ms');
    expect(row('endpoints[].auth.clockTolerance').default).toBe('`5000` ms');
    expect(row('endpoints[].direct.urlLifetime').default).toBe('`900000` ms');
  });

  it('the default endpoint of an empty config is not shown as the defaults of endpoint keys', () => {
    expect(row('endpoints[].path').default).toBe('*required*');
    expect(row('endpoints[].store.directory').default).toBe('*required*');
  });

  it('every key has a description', () => {
    const undescribed = table
      .split('\n')
      .slice(2)
      .filter((line) => /\|\s*\|$/.test(line));
    expect(undescribed).toEqual([]);
  });
});
