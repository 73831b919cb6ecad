import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Sidecar } from '../../../src/stores/sidecar.js';

const ID = /^[0-9a-f]{44}$/;
const SIDECAR = /^([0-9a-f]{44})\.json$/;
const TEMP_SIDECAR = /^([0-9a-f]{44})\.json\.[0-9a-f]{12}\.tmp$/;

export interface AuditedUpload {
  id: string;
  sidecar: Sidecar | undefined;
  /** Size of the data file; undefined when there is none. */
  dataSize: number | undefined;
  dataPath: string;
}

export interface StoreAudit {
  /** Every id with a data file or a sidecar. */
  uploads: Map<string, AuditedUpload>;
  /** Bytes nobody can account for: data files without a sidecar. */
  dataWithoutSidecar: string[];
  /** Sidecars whose data file is missing. */
  sidecarWithoutData: string[];
  /** Sidecar temp files (a crash during an atomic sidecar write; swept later), parsed when whole. */
  tempSidecars: { name: string; id: string; sidecar: Sidecar | undefined }[];
  /** Anything else: names a flat disk store never holds. */
  strangers: string[];
}

/** Look at a flat disk store (one directory of `<id>` + `<id>.json`) file by file. */
export async function auditStore(directory: string): Promise<StoreAudit> {
  const audit: StoreAudit = { uploads: new Map(), dataWithoutSidecar: [], sidecarWithoutData: [], tempSidecars: [], strangers: [] };
  const entry = (id: string) => {
    let found = audit.uploads.get(id);
    if (!found) {
      found = { id, sidecar: undefined, dataSize: undefined, dataPath: path.join(directory, id) };
      audit.uploads.set(id, found);
    }
    return found;
  };
  for (const name of await readdir(directory)) {
    const full = path.join(directory, name);
    if (!(await stat(full)).isFile()) audit.strangers.push(name);
    else if (ID.test(name)) entry(name).dataSize = (await stat(full)).size;
    else if (SIDECAR.test(name)) entry(name.slice(0, 44)).sidecar = JSON.parse(await readFile(full, 'utf8')) as Sidecar;
    else if (TEMP_SIDECAR.test(name)) audit.tempSidecars.push({ name, id: name.slice(0, 44), sidecar: await parseSidecar(full) });
    else audit.strangers.push(name);
  }
  for (const upload of audit.uploads.values()) {
    if (upload.sidecar === undefined) audit.dataWithoutSidecar.push(upload.id);
    else if (upload.dataSize === undefined) audit.sidecarWithoutData.push(upload.id);
  }
  return audit;
}

async function parseSidecar(file: string): Promise<Sidecar | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Sidecar;
  } catch {
    return undefined;
  }
}
