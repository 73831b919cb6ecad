// Write the config reference, docs/configuration.md, from the schema (run `npm run build` first).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { configReferenceDocument, REFERENCE_FILE } from '../dist/config/reference.js';

mkdirSync(path.dirname(REFERENCE_FILE), { recursive: true });
writeFileSync(REFERENCE_FILE, configReferenceDocument());
console.log(`${REFERENCE_FILE} written`);
