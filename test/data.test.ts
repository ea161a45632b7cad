// Browser-safe tests of the data layer (no node:fs): parsing, conversion to a
// matrix with its error messages, the seeded split, standardisation, and the
// bundled cars data. File loading is tested in data.node.test.ts.

import { describe, expect, it } from 'vitest';
// Read the raw file independently of loadCars, to recount rows by hand.
import rawCars from '../node_modules/vega-datasets/data/cars.json' with { type: 'json' };
import { ArgumentError, DataError, ShapeError } from '../src/errors.js';
import {
  CARS_FEATURES,
  CARS_TARGET,
  carsDataset,
  loadCars,
  parseCsv,
  parseJsonRecords,
  permutation,
  splitTrainVal,
  standardize,
  toMatrix,
  type Dataset,
  type Table,
} from '../src/data/index.js';

/** Expect `fn` to throw an instance of `cls` whose message contains every part. */
function expectError(fn: () => unknown, cls: new (...a: never[]) => Error, ...parts: string[]) {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected ${cls.name}`).toBeInstanceOf(cls);
  for (const part of parts) expect((caught as Error).message).toContain(part);
}

function table(columns: string[], rows: unknown[][], source = 't.csv'): Table {
  return { source, columns, rows };
}

function column(d: Dataset, j: number): number[] {
  return Array.from({ length: d.n }, (_, i) => d.X[i * d.p + j]!);
}

function mean(a: number[]): number {
  return a.reduce((s, v) => s + v, 0) / a.length;
}

function popStd(a: number[]): number {
  const m = mean(a);
  return Math.sqrt(a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length);
}

describe('parseCsv', () => {
  it('reads the header and keeps values as strings', () => {
    const t = parseCsv('\uFEFFa, b\n1,x\n\n2, 3\n', 'in.csv');
    expect(t).toEqual({
      source: 'in.csv',
      columns: ['a', 'b'],
      rows: [
        ['1', 'x'],
        ['2', '3'],
      ],
    });
  });

  it('rejects empty text, ragged rows and bad headers, naming the source', () => {
    expectError(() => parseCsv(' \n', 'e.csv'), DataError, 'e.csv is empty');
    expectError(
      () => parseCsv('a,b\n1,2\n3\n', 'r.csv'),
      DataError,
      'r.csv: invalid CSV',
      'line 3',
    );
    expectError(() => parseCsv('a,a\n1,2\n', 'd.csv'), DataError, "d.csv: column name 'a'");
    expectError(() => parseCsv('a,,c\n1,2,3\n', 'h.csv'), DataError, 'h.csv: column 2');
  });
});

describe('parseJsonRecords', () => {
  it('takes the union of keys; a key a record lacks reads as undefined', () => {
    const t = parseJsonRecords('[{"a":1,"b":"x"},{"c":true,"a":2}]', 'r.json');
    expect(t.columns).toEqual(['a', 'b', 'c']);
    expect(t.rows).toEqual([
      [1, 'x', undefined],
      [2, undefined, true],
    ]);
  });

  it('rejects bad JSON, non-arrays and non-object records, naming the source', () => {
    expectError(() => parseJsonRecords('[{"a":1},', 'b.json'), DataError, 'b.json: invalid JSON');
    expectError(() => parseJsonRecords('{"a":1}', 'o.json'), DataError, 'o.json', 'array');
    expectError(() => parseJsonRecords('[{"a":1}, 3]', 'n.json'), DataError, 'n.json row 2');
    expectError(() => parseJsonRecords('', 'z.json'), DataError, 'z.json is empty');
  });
});

describe('toMatrix', () => {
  const cols = ['name', 'x1', 'date', 'x2', 'y'];
  const rows = [
    ['a', 1, '1970-01-01', '10', 3],
    ['b', 2, '1971-01-01', ' 2.5e1 ', 4],
    ['c', null, '1972-01-01', '30', 5],
    ['d', 4, '1973-01-01', '40', 'NA'],
    ['e', 5, '1974-01-01', '-7', ''],
    ['f', 6, '1975-01-01', '.5', 9],
  ];

  it('uses every numeric column but the target, row-major, dropping missing rows', () => {
    const d = toMatrix(table(cols, rows), { target: 'y' });
    expect(d.featureNames).toEqual(['x1', 'x2']);
    expect(d.ignoredColumns).toEqual(['name', 'date']);
    expect([d.n, d.p, d.totalRows, d.droppedRows]).toEqual([3, 2, 6, 3]);
    expect(Array.from(d.X)).toEqual([1, 10, 2, 25, 6, 0.5]);
    expect(Array.from(d.y)).toEqual([3, 4, 9]);
  });

  it('keeps the requested feature order and drops only rows missing a used column', () => {
    const d = toMatrix(table(cols, rows), { target: 'y', features: ['x2'] });
    expect(d.featureNames).toEqual(['x2']);
    expect(Array.from(d.X)).toEqual([10, 25, 30, 0.5]);
    expect(d.droppedRows).toBe(2);
  });

  it('reports a missing value by row and column when dropMissing is false', () => {
    expectError(
      () => toMatrix(table(cols, rows), { target: 'y', dropMissing: false }),
      DataError,
      't.csv row 3, column x1: missing value',
    );
  });

  it('names source, row and column of a non-numeric or non-finite value', () => {
    const hp = Array.from({ length: 20 }, (_, i) => [String(100 + i), String(i)]);
    hp[16]![0] = 'abc';
    expectError(
      () =>
        toMatrix(table(['Horsepower', 'mpg'], hp, 'cars.csv'), {
          target: 'mpg',
          features: ['Horsepower'],
        }),
      DataError,
      "cars.csv row 17, column Horsepower: 'abc' is not a number",
    );
    const bad = [
      [1, 2],
      [2, 3],
      ['NaN', 4],
    ];
    expectError(
      () => toMatrix(table(['x', 'y'], bad), { target: 'y' }),
      DataError,
      "t.csv row 3, column x: 'NaN' is not a finite number",
    );
    const inf = [
      [1, 2],
      [2, Infinity],
    ];
    expectError(
      () => toMatrix(table(['x', 'y'], inf), { target: 'y' }),
      DataError,
      'row 2, column y: Infinity',
    );
  });

  it('rejects unknown columns, listing the available ones', () => {
    const t = table(cols, rows);
    expectError(
      () => toMatrix(t, { target: 'mpg' }),
      ArgumentError,
      "unknown target column 'mpg'",
      'name, x1, date, x2, y',
    );
    expectError(
      () => toMatrix(t, { target: 'y', features: ['x9'] }),
      ArgumentError,
      "feature column 'x9'",
      'available',
    );
    expectError(
      () => toMatrix(t, { target: 'y', features: ['y'] }),
      ArgumentError,
      "'y' is also the target",
    );
    expectError(() => toMatrix(t, { target: 'y', features: [] }), ArgumentError, 'empty');
  });

  it('rejects too few rows and constant columns', () => {
    const allMissing = [
      [1, null],
      [2, null],
    ];
    expectError(
      () => toMatrix(table(['x', 'y'], allMissing), { target: 'y' }),
      DataError,
      't.csv: no data rows after dropping 2',
    );
    expectError(
      () => toMatrix(table(['x', 'y'], []), { target: 'y', features: ['x'] }),
      DataError,
      't.csv: no data rows',
    );
    expectError(
      () => toMatrix(table(['x', 'y'], [[1, 2]]), { target: 'y' }),
      DataError,
      '1 data rows',
      'at least 2',
    );
    const four = [
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
    ];
    expectError(
      () => toMatrix(table(['x', 'y'], four), { target: 'y', minRows: 5 }),
      DataError,
      '4 data rows, at least 5',
    );
    const flat = [
      [1, 7, 1],
      [2, 7, 2],
      [3, 7, 3],
    ];
    expectError(
      () => toMatrix(table(['a', 'k', 'y'], flat), { target: 'y' }),
      DataError,
      't.csv, column k: every value is 7',
    );
    expectError(
      () =>
        toMatrix(
          table(
            ['s', 'y'],
            [
              ['u', 1],
              ['v', 2],
            ],
          ),
          { target: 'y' },
        ),
      DataError,
      'no numeric column',
    );
  });
});

describe('splitTrainVal and standardize', () => {
  const n = 10;
  const p = 2;
  const data: Dataset = {
    X: Float64Array.from({ length: n * p }, (_, k) => (k * 7) % 11),
    y: Float64Array.from({ length: n }, (_, i) => i * i),
    n,
    p,
    featureNames: ['u', 'v'],
  };

  it('splits into a partition of the rows, reproducibly for a seed', () => {
    const a = splitTrainVal(data, { seed: 3 });
    const b = splitTrainVal(data, { seed: 3 });
    expect([a.train.n, a.val.n]).toEqual([7, 3]); // round(10 · 0.25) = 3
    expect([...a.trainIndex, ...a.valIndex].sort((x, y) => x - y)).toEqual([...Array(n).keys()]);
    expect(b.valIndex).toEqual(a.valIndex);
    a.valIndex.forEach((i, r) => {
      expect(a.val.y[r]).toBe(data.y[i]);
      expect(a.val.X[r * p + 1]).toBe(data.X[i * p + 1]);
    });
    expect(Array.from(permutation(50, 0)).sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect(permutation(50, 0)).not.toEqual(permutation(50, 1));
  });

  it('rejects bad options and shapes', () => {
    expectError(
      () => splitTrainVal(data, { seed: 0, valFraction: 1 }),
      ArgumentError,
      'valFraction',
    );
    expectError(
      () => splitTrainVal(data, { seed: 0, valFraction: 0.01 }),
      ArgumentError,
      '0 validation rows',
    );
    expectError(() => splitTrainVal(data, { seed: -1 }), ArgumentError, 'seed');
    expectError(() => splitTrainVal(data, { seed: 1.5 }), ArgumentError, 'seed');
    expectError(
      () => splitTrainVal({ ...data, n: 9 }, { seed: 0 }),
      ShapeError,
      'X has 20 entries',
    );
  });

  it('rejects a feature constant over the training rows, naming it', () => {
    const train: Dataset = {
      X: Float64Array.of(1, 5, 2, 5, 3, 5),
      y: Float64Array.of(1, 2, 3),
      n: 3,
      p: 2,
      featureNames: ['a', 'b'],
    };
    expectError(() => standardize(train), DataError, 'training data, column b: every value is 5');
    const val: Dataset = { X: Float64Array.of(1), y: Float64Array.of(1), n: 1, p: 1 };
    expectError(
      () => standardize({ ...train, X: Float64Array.of(1, 5, 2, 6, 3, 7) }, val),
      ShapeError,
      'val has 1 features',
    );
  });
});

describe('cars', () => {
  // Recount from the raw JSON: rows missing the target or a used feature.
  const raw = rawCars as Record<string, unknown>[];
  const used = [CARS_TARGET, ...CARS_FEATURES];
  const rawDropped = raw.filter((r) =>
    used.some((c) => r[c] === null || r[c] === undefined),
  ).length;

  it('loads the documented rows and drops those with missing values', () => {
    const t = loadCars();
    expect(t.rows.length).toBe(raw.length);
    expect(t.columns).toContain('Year');
    expect([raw.length, rawDropped]).toEqual([406, 14]);

    const d = carsDataset();
    expect([d.totalRows, d.droppedRows, d.n]).toEqual([406, 14, 392]);
    expect([d.nTrain, d.nVal, d.seed, d.valFraction]).toEqual([294, 98, 0, 0.25]);
    expect(d.featureNames).toEqual(CARS_FEATURES);
    expect(d.featureNames).not.toContain('Year');
  });

  it('is reproducible for a seed and differs for another', () => {
    const a = carsDataset({ seed: 7 });
    const b = carsDataset({ seed: 7 });
    const c = carsDataset({ seed: 8 });
    expect(b.valIndex).toEqual(a.valIndex);
    expect(b.train.X).toEqual(a.train.X);
    expect(c.valIndex).not.toEqual(a.valIndex);
  });

  it('standardises train to mean 0 and population std 1, and val with train stats', () => {
    const d = carsDataset({ seed: 0 });
    for (let j = 0; j < d.train.p; j++) {
      const z = column(d.train, j);
      expect(Math.abs(mean(z))).toBeLessThan(1e-12);
      expect(Math.abs(popStd(z) - 1)).toBeLessThan(1e-12);

      // The statistics are those of the raw training rows only.
      const rawTrain = Array.from(d.trainIndex, (i) => d.data.X[i * d.data.p + j]!);
      expect(d.stats.featureMean[j]).toBeCloseTo(mean(rawTrain), 10);
      expect(d.stats.featureStd[j]).toBeCloseTo(popStd(rawTrain), 10);
      d.valIndex.forEach((i, r) => {
        const expected =
          (d.data.X[i * d.data.p + j]! - d.stats.featureMean[j]!) / d.stats.featureStd[j]!;
        expect(d.val.X[r * d.val.p + j]).toBe(expected);
      });
    }
    // y stays in miles per gallon by default.
    expect(d.val.y[0]).toBe(d.data.y[d.valIndex[0]!]);
    expect([d.stats.targetMean, d.stats.targetStd]).toEqual([0, 1]);
  });

  it('can standardise the target, invertibly', () => {
    const d = carsDataset({ seed: 0, standardizeTarget: true });
    const y = Array.from(d.train.y);
    expect(Math.abs(mean(y))).toBeLessThan(1e-12);
    expect(Math.abs(popStd(y) - 1)).toBeLessThan(1e-12);
    const back = d.val.y[0]! * d.stats.targetStd + d.stats.targetMean;
    expect(back).toBeCloseTo(d.data.y[d.valIndex[0]!]!, 12);
  });
});
