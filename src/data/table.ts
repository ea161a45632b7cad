// A Table is raw tabular data as a parser found it: column names and rows of
// unconverted values. Conversion to numbers happens once, in prepare.ts, so
// that every parser reports bad values with the same row/column wording.
//
// Rows are numbered as a person counts data rows: row 1 is the first record
// after the CSV header, or the first object of a JSON array.

// The browser build of csv-parse: its Node build (`csv-parse/sync`) uses the
// global `Buffer`, which does not exist in a browser; this one bundles its
// own and runs unchanged in Node.
import { parse } from 'csv-parse/browser/esm/sync';
import { DataError } from '../errors.js';

export interface Table {
  /** Where the data came from (a file path, 'cars.json', ...); errors name it. */
  readonly source: string;
  readonly columns: readonly string[];
  /** rows[i][j] is the value of columns[j] in data row i + 1, unconverted. */
  readonly rows: readonly (readonly unknown[])[];
}

/** Parse CSV text whose first record is the header. Values stay strings. */
export function parseCsv(text: string, source: string): Table {
  if (text.trim() === '') throw new DataError(`${source} is empty`);

  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, trim: true });
  } catch (err) {
    // csv-parse's messages already give the line ("... on line 3").
    throw new DataError(`${source}: invalid CSV: ${(err as Error).message}`);
  }

  const [header, ...rows] = records;
  checkColumnNames(header!, source);
  return { source, columns: header!, rows };
}

/** Parse JSON text holding an array of records (plain objects). */
export function parseJsonRecords(text: string, source: string): Table {
  if (text.trim() === '') throw new DataError(`${source} is empty`);

  let value: unknown;
  try {
    // JSON.parse rejects a byte-order mark, which editors on Windows add.
    value = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new DataError(`${source}: invalid JSON: ${(err as Error).message}`);
  }
  return tableFromRecords(value, source);
}

/**
 * Build a Table from already-parsed records. The columns are the union of the
 * records' keys in order of first appearance; a key a record lacks reads as
 * undefined, which prepare.ts treats as missing.
 */
export function tableFromRecords(records: unknown, source: string): Table {
  if (!Array.isArray(records)) {
    throw new DataError(
      `${source}: expected an array of records (objects), found ${describe(records)}`,
    );
  }

  const index = new Map<string, number>();
  records.forEach((record: unknown, i) => {
    if (!isPlainRecord(record)) {
      throw new DataError(`${source} row ${i + 1}: expected an object, found ${describe(record)}`);
    }
    for (const key of Object.keys(record)) if (!index.has(key)) index.set(key, index.size);
  });

  const columns = [...index.keys()];
  const rows = (records as Record<string, unknown>[]).map((record) =>
    columns.map((c) => record[c]),
  );
  return { source, columns, rows };
}

function checkColumnNames(header: readonly string[], source: string): void {
  const seen = new Set<string>();
  header.forEach((name, j) => {
    if (name === '') throw new DataError(`${source}: column ${j + 1} of the header has no name`);
    if (seen.has(name)) throw new DataError(`${source}: column name '${name}' appears twice`);
    seen.add(name);
  });
}

function isPlainRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}
