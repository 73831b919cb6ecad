import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  checkFinalizeTemplate,
  FinalizeSchema,
  finalizeOnDisk,
  finalPathOf,
  finalPathTaken,
  type OverwriteMode,
  renderFinalPath,
  resolveFinalPath,
} from '../../src/stores/finalize.js';
import { OWN_ID_SIDECAR_NAME, readSidecar, type Sidecar, writeSidecar } from '../../src/stores/sidecar.js';
import { newUploadId } from '../../src/uploads/ids.js';

const NOW = new Date('2026-03-05T23:30:00Z');
const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

let tmp: string;
let root: string;
beforeEach(async () => {
  tmp = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'tusport-finalize-')));
  root = path.join(tmp, 'store');
  await fs.mkdir(root);
});
afterEach(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

interface Made {
  id: string;
  dataPath: string;
  sidecar: Sidecar;
  hash: string;
}

/** A finished upload as the disk backend leaves it: `<root>/<id>` and `<root>/<id>.json`. */
async function makeUpload(filename = 'cat.png'): Promise<Made> {
  const id = randomBytes(16).toString('hex');
  const data = randomBytes(1024 + Math.floor(Math.random() * 1024));
  const dataPath = path.join(root, id);
  const sidecar: Sidecar = {
    id,
    size: data.length,
    offset: 0,
    metadata: { filename },
    creation_date: NOW.toISOString(),
    tusport: { version: 1, endpoint: '/users/{username}/uploads', params: { username: 'alice' }, owner: null, completed_at: NOW.toISOString() },
  };
  await writeSidecar(`${dataPath}.json`, sidecar);
  await fs.writeFile(dataPath, data);
  return { id, dataPath, sidecar, hash: sha(data) };
}

const finalize = (made: Made, relativePath: string, overwrite: OverwriteMode) =>
  finalizeOnDisk({ root, dataPath: made.dataPath, sidecar: made.sidecar, relativePath, overwrite });
const hashOf = async (file: string) => sha(await fs.readFile(file));

describe('FinalizeSchema and checkFinalizeTemplate', () => {
  it('defaults overwrite to false and accepts true and "rename"', () => {
    expect(FinalizeSchema.parse({ path: '{id}' })).toEqual({ path: '{id}', overwrite: false });
    expect(FinalizeSchema.parse({ path: '{id}', overwrite: 'rename' }).overwrite).toBe('rename');
    expect(FinalizeSchema.parse({ path: '{id}', overwrite: true }).overwrite).toBe(true);
    expect(FinalizeSchema.safeParse({ path: '{id}', overwrite: 'yes' }).success).toBe(false);
    expect(FinalizeSchema.safeParse({ path: '{id}', extra: 1 }).success).toBe(false);
  });

  it('accepts built-ins and the URL template params', () => {
    expect(checkFinalizeTemplate('{username}/{yyyy}/{mm}/{dd}/{id}-{filename}', ['username'])).toBeUndefined();
    expect(checkFinalizeTemplate('done/{stem}.{ext}', [])).toBeUndefined();
  });

  it.each([
    ['{nope}/{id}', ['username'], /\{nope\}.*neither a built-in.*\{username\}/],
    ['/srv/{id}', [], /relative/],
    ['C:/x/{id}', [], /relative/],
    ['a\\{id}', [], /"\/"/],
    ['../{id}', [], /"\.\."/],
    ['a/./{id}', [], /"\."/],
    ['a//{id}', [], /empty segments/],
    ['a/', [], /empty segments/],
    ['{id', [], /unbalanced/],
    ['a/x:{id}', [], /not allowed/],
    ['{id}', ['id'], /both a built-in/],
    ['', [], /empty/],
  ])('refuses %j', (template, params, message) => {
    expect(checkFinalizeTemplate(template, params)).toMatch(message);
  });
});

describe('renderFinalPath', () => {
  const id = 'a'.repeat(32);

  it('renders params, id, date (UTC) and filename', () => {
    const vars = { params: { username: 'alice' }, id, filename: 'cat.png', now: NOW };
    expect(renderFinalPath('{username}/{yyyy}/{mm}/{id}-{filename}', vars)).toBe(`alice/2026/03/${id}-cat.png`);
    expect(renderFinalPath('{dd}/{stem}.{ext}', { ...vars, filename: 'Report.PDF' })).toBe('05/Report.pdf');
  });

  it('uses the id for a missing filename and drops the dot of an empty ext', () => {
    expect(renderFinalPath('{filename}', { params: {}, id, filename: null, now: NOW })).toBe(id);
    expect(renderFinalPath('{stem}.{ext}', { params: {}, id, now: NOW })).toBe(id);
  });

  it.each([
    ['../../etc/passwd', 'alice/passwd'],
    ['..\\..\\boot.ini', 'alice/boot.ini'],
    ['..', 'alice/upload'],
    ['/', 'alice/upload'],
    ['CON', 'alice/_CON'],
  ])('neutralises the filename %j', (filename, expected) => {
    expect(renderFinalPath('{username}/{filename}', { params: { username: 'alice' }, id, filename, now: NOW })).toBe(expected);
  });

  it.each([['..'], ['.'], ['a/../../b'], ['..\\..'], ['/etc'], ['\u0000'], ['x\u202E/..']])('neutralises the param %j', (username) => {
    const rendered = renderFinalPath('{username}/{filename}', { params: { username }, id, filename: 'f.txt', now: NOW });
    const segments = rendered.split('/');
    expect(segments).toHaveLength(2);
    expect(segments[0]).not.toMatch(/^\.*$/);
    expect(path.isAbsolute(rendered)).toBe(false);
    expect(path.posix.normalize(rendered)).toBe(rendered);
  });

  it('keeps names the store would mistake for its own files out', () => {
    const vars = { params: {}, id, now: NOW };
    expect(renderFinalPath('{filename}', { ...vars, filename: `${'b'.repeat(32)}.json` })).toBe(`_${'b'.repeat(32)}.json`);
    // The id shape since ids sort by time (src/uploads/ids.ts).
    expect(renderFinalPath('{filename}', { ...vars, filename: `${'c'.repeat(44)}.json` })).toBe(`_${'c'.repeat(44)}.json`);
    expect(renderFinalPath('{filename}', { ...vars, filename: 'x.abcdef012345.tmp' })).toBe('x.abcdef012345.tmp_');
  });

  it("never names a file like the sidecar of an id tusport makes, so a HEAD need not look for a finalized file's sidecar", () => {
    // isFinalizedFile skips its second read for names OWN_ID_SIDECAR_NAME matches: that is only
    // sound while every id tusport makes matches it and finalize renames whatever does.
    const vars = { params: {}, id, now: NOW };
    for (const name of [`${newUploadId()}.json`, `${newUploadId().toUpperCase()}.JSON`, `${'a'.repeat(32)}.json`]) {
      expect(OWN_ID_SIDECAR_NAME.test(name)).toBe(true);
      for (const template of ['{filename}', name, `dir/{filename}`]) {
        const rendered = renderFinalPath(template, { ...vars, filename: name });
        expect(OWN_ID_SIDECAR_NAME.test(path.posix.basename(rendered))).toBe(false);
      }
    }
    // Ids a hook chose (any safe id) keep the second read: such names are not matched.
    expect(OWN_ID_SIDECAR_NAME.test('evil.json')).toBe(false);
  });

  it('keeps each segment within 200 bytes, extension kept', () => {
    const rendered = renderFinalPath('{id}-{filename}', { params: {}, id, filename: `${'é'.repeat(150)}.png`, now: NOW });
    expect(Buffer.byteLength(rendered)).toBeLessThanOrEqual(200);
    expect(rendered.endsWith('.png')).toBe(true);
  });

  it('throws for an unknown placeholder', () => {
    expect(() => renderFinalPath('{nope}', { params: {}, id, now: NOW })).toThrow(expect.objectContaining({ code: 'TUSPORT_ERR_FINAL_PATH_UNSAFE' }));
  });
});

describe('finalizeOnDisk', () => {
  it('moves the data to the rendered path and records final_path in both sidecars', async () => {
    const made = await makeUpload();
    const relative = renderFinalPath('{username}/{yyyy}/{mm}/{id}-{filename}', { params: { username: 'alice' }, id: made.id, filename: 'cat.png', now: NOW });
    const result = await finalize(made, relative, false);
    expect(result).toEqual({ finalPath: path.join(root, relative), relativePath: relative });
    expect(await hashOf(result.finalPath)).toBe(made.hash);
    await expect(fs.stat(made.dataPath)).rejects.toMatchObject({ code: 'ENOENT' });
    const beside = await readSidecar(`${result.finalPath}.json`);
    expect(beside?.id).toBe(made.id);
    expect(finalPathOf(beside)).toBe(relative);
    const original = await readSidecar(`${made.dataPath}.json`);
    expect(finalPathOf(original)).toBe(relative);
    expect(original?.tusport.completed_at).toBe(made.sidecar.tusport.completed_at);
    expect(await resolveFinalPath(root, finalPathOf(original))).toBe(result.finalPath);
    expect((await fs.readdir(path.dirname(result.finalPath))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('overwrite false refuses a clash with 409 and clobbers nothing', async () => {
    await fs.writeFile(path.join(root, 'cat.png'), 'theirs');
    const made = await makeUpload();
    await expect(finalize(made, 'cat.png', false)).rejects.toMatchObject({ statusCode: 409, code: 'TUSPORT_ERR_FINAL_PATH_TAKEN' });
    expect(await fs.readFile(path.join(root, 'cat.png'), 'utf8')).toBe('theirs');
    expect(await hashOf(made.dataPath)).toBe(made.hash);
    expect(finalPathOf(await readSidecar(`${made.dataPath}.json`))).toBeUndefined();
    await expect(fs.stat(path.join(root, 'cat.png.json'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never clobbers a user file named like the sidecar of the final name', async () => {
    await fs.writeFile(path.join(root, 'report.pdf.json'), 'a user file');
    const made = await makeUpload('report.pdf');
    await expect(finalize(made, 'report.pdf', false)).rejects.toMatchObject({ statusCode: 409 });
    expect(await fs.readFile(path.join(root, 'report.pdf.json'), 'utf8')).toBe('a user file');
    const renamed = await finalize(made, 'report.pdf', 'rename');
    expect(renamed.relativePath).toBe('report (1).pdf');
    expect(await fs.readFile(path.join(root, 'report.pdf.json'), 'utf8')).toBe('a user file');
  });

  it('"rename" appends (1), (2)... before the extension', async () => {
    const results = [];
    for (const name of ['a', 'b', 'c']) {
      const made = await makeUpload(`${name}.pdf`);
      results.push(await finalize(made, 'docs/report.pdf', 'rename'));
      expect(await hashOf(results.at(-1)?.finalPath ?? '')).toBe(made.hash);
    }
    expect(results.map((r) => r.relativePath)).toEqual(['docs/report.pdf', 'docs/report (1).pdf', 'docs/report (2).pdf']);
    const bare = [await finalize(await makeUpload(), 'notes', 'rename'), await finalize(await makeUpload(), 'notes', 'rename')];
    expect(bare.map((r) => r.relativePath)).toEqual(['notes', 'notes (1)']);
  });

  it('true replaces an earlier finalization at the same path', async () => {
    const first = await makeUpload();
    await finalize(first, 'latest.png', true);
    const second = await makeUpload();
    const result = await finalize(second, 'latest.png', true);
    expect(await hashOf(result.finalPath)).toBe(second.hash);
    expect((await readSidecar(`${result.finalPath}.json`))?.id).toBe(second.id);
    expect((await fs.readdir(root)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    // The first upload's sidecar still points there, but the file is no longer its own.
    expect(await resolveFinalPath(root, 'latest.png', second.id)).toBe(result.finalPath);
    expect(await resolveFinalPath(root, 'latest.png', first.id)).toBeUndefined();
  });

  it('true does not replace a file that no finalization put there', async () => {
    await fs.writeFile(path.join(root, 'latest.png'), 'foreign');
    const made = await makeUpload();
    await expect(finalize(made, 'latest.png', true)).rejects.toMatchObject({ statusCode: 409 });
    expect(await fs.readFile(path.join(root, 'latest.png'), 'utf8')).toBe('foreign');
    expect(await hashOf(made.dataPath)).toBe(made.hash);
  });

  it('racing with false: exactly one wins, the others get 409 with their data untouched', async () => {
    const uploads = await Promise.all(Array.from({ length: 10 }, () => makeUpload('same.bin')));
    const outcomes = await Promise.allSettled(uploads.map((made) => finalize(made, 'shared/same.bin', false)));
    const winners = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    const winner = uploads[winners[0] ?? -1] as Made;
    expect(await hashOf(path.join(root, 'shared/same.bin'))).toBe(winner.hash);
    expect((await readSidecar(path.join(root, 'shared/same.bin.json')))?.id).toBe(winner.id);
    for (const [i, outcome] of outcomes.entries()) {
      if (outcome.status === 'fulfilled') continue;
      expect(outcome.reason).toMatchObject({ statusCode: 409, code: 'TUSPORT_ERR_FINAL_PATH_TAKEN' });
      const loser = uploads[i] as Made;
      expect(await hashOf(loser.dataPath)).toBe(loser.hash);
      expect(finalPathOf(await readSidecar(`${loser.dataPath}.json`))).toBeUndefined();
    }
    expect(await fs.readdir(path.join(root, 'shared'))).toEqual(['same.bin', 'same.bin.json']);
  });

  it('racing with "rename": all ten land under distinct names and no bytes are lost', async () => {
    const uploads = await Promise.all(Array.from({ length: 10 }, () => makeUpload('same.bin')));
    const results = await Promise.all(uploads.map((made) => finalize(made, 'shared/same.bin', 'rename')));
    expect(new Set(results.map((r) => r.relativePath)).size).toBe(10);
    expect(results.map((r) => r.relativePath)).toContain('shared/same (9).bin');
    for (const [i, result] of results.entries()) {
      const made = uploads[i] as Made;
      expect(await hashOf(result.finalPath)).toBe(made.hash);
      expect((await readSidecar(`${result.finalPath}.json`))?.id).toBe(made.id);
      expect(finalPathOf(await readSidecar(`${made.dataPath}.json`))).toBe(result.relativePath);
    }
  });

  it('racing with true: the final file and its sidecar always describe the same upload', async () => {
    const uploads = await Promise.all(Array.from({ length: 10 }, () => makeUpload()));
    await Promise.all(uploads.map((made) => finalize(made, 'latest.bin', true)));
    const beside = await readSidecar(path.join(root, 'latest.bin.json'));
    const owner = uploads.find((made) => made.id === beside?.id);
    expect(await hashOf(path.join(root, 'latest.bin'))).toBe(owner?.hash);
  });

  it('refuses a symlink inside the root that points outside, creating nothing there', async () => {
    const outside = path.join(tmp, 'outside');
    await fs.mkdir(outside);
    await fs.symlink(outside, path.join(root, 'escape'));
    const made = await makeUpload();
    await expect(finalize(made, 'escape/sub/cat.png', false)).rejects.toMatchObject({ code: 'TUSPORT_ERR_FINAL_PATH_UNSAFE' });
    await expect(finalize(made, 'escape/cat.png', true)).rejects.toMatchObject({ code: 'TUSPORT_ERR_FINAL_PATH_UNSAFE' });
    expect(await fs.readdir(outside)).toEqual([]);
    expect(await hashOf(made.dataPath)).toBe(made.hash);
    await expect(finalPathTaken(root, 'escape/cat.png')).rejects.toMatchObject({ code: 'TUSPORT_ERR_FINAL_PATH_UNSAFE' });
    expect(await resolveFinalPath(root, 'escape')).toBeUndefined();
  });

  it('follows a symlink that stays inside the root', async () => {
    await fs.mkdir(path.join(root, 'real'));
    await fs.symlink(path.join(root, 'real'), path.join(root, 'alias'));
    const made = await makeUpload();
    const result = await finalize(made, 'alias/cat.png', false);
    expect(result.relativePath).toBe('real/cat.png');
    expect(await hashOf(path.join(root, 'real/cat.png'))).toBe(made.hash);
  });

  it.each([['../cat.png'], ['/tmp/cat.png'], ['a/../../cat.png'], ['a//b'], ['']])('refuses the relative path %j', async (relative) => {
    const made = await makeUpload();
    await expect(finalize(made, relative, 'rename')).rejects.toMatchObject({ code: 'TUSPORT_ERR_FINAL_PATH_UNSAFE' });
    expect(await hashOf(made.dataPath)).toBe(made.hash);
    expect(await resolveFinalPath(root, relative)).toBeUndefined();
  });

  it('a file where a directory should be is a clash', async () => {
    await fs.writeFile(path.join(root, 'docs'), 'a file');
    const made = await makeUpload();
    await expect(finalize(made, 'docs/cat.png', 'rename')).rejects.toMatchObject({ statusCode: 409 });
    expect(await finalPathTaken(root, 'docs/cat.png')).toBe(true);
  });

  it('a path that is already the data file is only recorded', async () => {
    const made = await makeUpload();
    const result = await finalize(made, made.id, false);
    expect(result.finalPath).toBe(made.dataPath);
    expect(await hashOf(made.dataPath)).toBe(made.hash);
    expect(finalPathOf(await readSidecar(`${made.dataPath}.json`))).toBe(made.id);
  });
});

describe('finalPathTaken', () => {
  it('is false for a free name, true once the file or only its sidecar name exists', async () => {
    expect(await finalPathTaken(root, 'a/b/cat.png')).toBe(false);
    expect(await finalPathTaken(path.join(tmp, 'no-such-root'), 'cat.png')).toBe(false);
    await finalize(await makeUpload(), 'a/b/cat.png', false);
    expect(await finalPathTaken(root, 'a/b/cat.png')).toBe(true);
    await fs.writeFile(path.join(root, 'dog.png.json'), '{}');
    expect(await finalPathTaken(root, 'dog.png')).toBe(true);
  });
});
