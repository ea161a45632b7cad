// File loading (node:fs): format detection and the errors that name the file.

import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DataError } from '../src/errors.js';
import { toMatrix } from '../src/data/index.js';
import { loadTableFile } from '../src/data/node.js';

const fixture = (name: string) =>
  fileURLToPath(new URL(`./fixtures/data/${name}`, import.meta.url));

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected an error');
}

describe('loadTableFile', () => {
  it('reads CSV and JSON by extension, and JSON by content without one', () => {
    const csv = loadTableFile(fixture('small.csv'));
    expect(csv.columns).toEqual(['x1', 'x2', 'y']);
    const d = toMatrix(csv, { target: 'y' });
    expect([d.totalRows, d.droppedRows, d.n]).toEqual([5, 2, 3]);
    expect(Array.from(d.X)).toEqual([1, 10, 4, 40, 5, 50.5]);

    const json = loadTableFile(fixture('records.json'));
    expect(json.rows).toEqual([
      [1, 2],
      [3, 5],
      [4, 1],
    ]);
    expect(loadTableFile(fixture('records-noext')).columns).toEqual(['a', 'y']);
  });

  it('names the file in every error', () => {
    const cases: [string, string][] = [
      ['no-such-file.csv', 'no such file'],
      ['', 'cannot be read (EISDIR)'], // the fixture folder itself
      ['empty.csv', 'is empty'],
      ['blank.json', 'is empty'],
      ['bad.json', 'invalid JSON'],
      ['ragged.csv', 'invalid CSV'],
    ];
    for (const [name, what] of cases) {
      const err = errorOf(() => loadTableFile(fixture(name)));
      expect(err).toBeInstanceOf(DataError);
      expect(err.message).toContain(fixture(name));
      expect(err.message).toContain(what);
    }
  });

  it('carries the path into value errors', () => {
    const t = loadTableFile(fixture('bad-number.csv'));
    // By default 'b' is not numeric, hence not used; named explicitly it is an error.
    expect(toMatrix(t, { target: 'y' }).ignoredColumns).toEqual(['b']);
    const err = errorOf(() => toMatrix(t, { target: 'y', features: ['a', 'b'] }));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toBe(`${fixture('bad-number.csv')} row 2, column b: 'abc' is not a number`);
  });
});
