// Turn a raw Table into a numeric Dataset: pick the target and feature
// columns, convert values to numbers, drop rows with missing values, and
// reject everything a model cannot use, with an error that names the source,
// the data row (1-based) and the column.

import { ArgumentError, DataError } from '../errors.js';
import { checkNoConstantColumn, type Dataset } from './dataset.js';
import type { Table } from './table.js';

export interface MatrixOptions {
  /** Column to predict. */
  target: string;
  /** Feature columns, in this order. Default: every numeric column but the target. */
  features?: readonly string[];
  /** Name used in error messages. Default: table.source. */
  source?: string;
  /**
   * Drop rows with a missing value (null, undefined, '', 'NA') in the target or
   * a used feature, and count them in `droppedRows`. When false such a row is
   * an error. Default true.
   */
  dropMissing?: boolean;
  /** Fewest rows that must remain. Default 2, the least a split can use. */
  minRows?: number;
}

export interface PreparedData extends Dataset {
  readonly featureNames: readonly string[];
  readonly targetName: string;
  readonly source: string;
  /** Data rows in the table, before dropping. */
  readonly totalRows: number;
  /** Rows left out for a missing value; n = totalRows - droppedRows. */
  readonly droppedRows: number;
  /**
   * Columns used neither as target nor as feature. With the default features
   * these are the non-numeric ones; a caller should show them, since a single
   * typo ('12a') in a numeric column makes it non-numeric and so unused.
   */
  readonly ignoredColumns: readonly string[];
}

/** Convert `table` to a row-major design matrix and target vector. */
export function toMatrix(table: Table, options: MatrixOptions): PreparedData {
  const source = options.source ?? table.source;
  const dropMissing = options.dropMissing ?? true;
  const minRows = options.minRows ?? 2;
  if (!Number.isInteger(minRows) || minRows < 1) {
    throw new ArgumentError(`minRows must be an integer ≥ 1, found ${minRows}`);
  }

  // Resolve the columns: target last, so one pass converts a whole row.
  const targetCol = columnIndex(table, options.target, 'target', source);
  const featureNames = options.features ?? defaultFeatures(table, targetCol, source);
  checkFeatureList(featureNames, options.target);
  const cols = [...featureNames.map((f) => columnIndex(table, f, 'feature', source)), targetCol];
  const p = featureNames.length;

  // Convert row by row; a bad value is an error even in a row that would be
  // dropped, since it is more likely a typo than a deliberate gap.
  const X = new Float64Array(table.rows.length * p);
  const y = new Float64Array(table.rows.length);
  const values = new Float64Array(p + 1);
  let n = 0;
  let droppedRows = 0;
  table.rows.forEach((row, i) => {
    let missingIn: string | undefined;
    cols.forEach((c, k) => {
      const v = row[c];
      if (isMissing(v)) {
        missingIn ??= table.columns[c];
        return;
      }
      values[k] = toNumber(v, `${source} row ${i + 1}, column ${table.columns[c]}`);
    });
    if (missingIn !== undefined) {
      if (!dropMissing) {
        throw new DataError(`${source} row ${i + 1}, column ${missingIn}: missing value`);
      }
      droppedRows++;
      return;
    }
    X.set(values.subarray(0, p), n * p);
    y[n] = values[p]!;
    n++;
  });

  // Enough rows, and no column a model cannot use.
  const dropNote = droppedRows > 0 ? ` after dropping ${droppedRows} with missing values` : '';
  if (n === 0) throw new DataError(`${source}: no data rows${dropNote}`);
  if (n < minRows) {
    throw new DataError(`${source}: ${n} data rows${dropNote}, at least ${minRows} needed`);
  }
  const data: PreparedData = {
    X: X.slice(0, n * p),
    y: y.slice(0, n),
    n,
    p,
    featureNames: [...featureNames],
    targetName: options.target,
    source,
    totalRows: table.rows.length,
    droppedRows,
    ignoredColumns: table.columns.filter((_, j) => !cols.includes(j)),
  };
  checkNoConstantColumn(data, source);
  return data;
}

/**
 * True when every present value of column j reads as a number (non-finite
 * tokens such as 'NaN' included, so that selecting the column reports them
 * rather than silently skipping it) and at least one value is present.
 */
export function isNumericColumn(table: Table, j: number): boolean {
  let present = 0;
  for (const row of table.rows) {
    const v = row[j];
    if (isMissing(v)) continue;
    if (readNumber(v) === undefined) return false;
    present++;
  }
  return present > 0;
}

/** The markers of a missing value; strings are compared after trimming. */
export function isMissing(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  if (typeof v !== 'string') return false;
  const s = v.trim();
  return s === '' || s === 'NA';
}

function defaultFeatures(table: Table, targetCol: number, source: string): string[] {
  const names = table.columns.filter((_, j) => j !== targetCol && isNumericColumn(table, j));
  if (names.length === 0) {
    throw new DataError(
      `${source}: no numeric column besides the target '${table.columns[targetCol]}'; ` +
        `columns: ${table.columns.join(', ')}`,
    );
  }
  return names;
}

function columnIndex(table: Table, name: string, role: string, source: string): number {
  const j = table.columns.indexOf(name);
  if (j < 0) {
    throw new ArgumentError(
      `${source}: unknown ${role} column '${name}'; available columns: ${table.columns.join(', ')}`,
    );
  }
  return j;
}

function checkFeatureList(features: readonly string[], target: string): void {
  if (features.length === 0) throw new ArgumentError('features: the list is empty');
  const seen = new Set<string>();
  for (const f of features) {
    if (f === target) throw new ArgumentError(`features: '${f}' is also the target`);
    if (seen.has(f)) throw new ArgumentError(`features: '${f}' is listed twice`);
    seen.add(f);
  }
}

// A plain decimal or scientific literal. Stricter than Number(), which also
// accepts '0x1F', '0b11' and whitespace-only strings.
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const NON_FINITE = /^([+-]?)(nan|inf|infinity)$/i;

/** The number a present value stands for, or undefined if it is not one. */
function readNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const s = v.trim();
  if (DECIMAL.test(s)) return Number(s);
  const m = NON_FINITE.exec(s);
  if (m === null) return undefined;
  return m[2]!.toLowerCase() === 'nan' ? NaN : m[1] === '-' ? -Infinity : Infinity;
}

function toNumber(v: unknown, where: string): number {
  const x = readNumber(v);
  if (x === undefined) throw new DataError(`${where}: ${show(v)} is not a number`);
  if (!Number.isFinite(x)) throw new DataError(`${where}: ${show(v)} is not a finite number`);
  return x;
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
