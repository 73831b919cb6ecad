// Rewrite the config reference in README.md from the schema (run `npm run build` first).
import { readFileSync, writeFileSync } from 'node:fs';
import { configReference, REFERENCE_BEGIN, REFERENCE_END } from '../dist/config/reference.js';

const readme = readFileSync('README.md', 'utf8');
const start = readme.indexOf(REFERENCE_BEGIN);
const end = readme.indexOf(REFERENCE_END);
if (start === -1 || end === -1) throw new Error('README.md has no config-reference markers');
writeFileSync('README.md', readme.slice(0, start) + configReference() + readme.slice(end + REFERENCE_END.length));
console.log('README.md config reference updated');
