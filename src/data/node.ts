// Node-only file loading (node:fs). Kept out of index.ts so that browser
// bundles never pull in node:fs; import it as 'src/data/node.js'.

import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { DataError } from '../errors.js';
import { parseCsv, parseJsonRecords, type Table } from './table.js';

/**
 * Read a CSV or JSON-records file. The format comes from the extension
 * (.csv, .json); any other extension is judged by content: text that starts
 * with '[' or '{' is JSON, anything else CSV. Every error names `path`.
 */
export function loadTableFile(path: string): Table {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError(`${path}: no such file`);
    throw new DataError(`${path}: cannot be read (${code ?? (err as Error).message})`);
  }

  const ext = extname(path).toLowerCase();
  const looksJson = ext === '.json' || (ext !== '.csv' && /^\uFEFF?\s*[[{]/.test(text));
  return looksJson ? parseJsonRecords(text, path) : parseCsv(text, path);
}
