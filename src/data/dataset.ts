// The numeric form every model and solver consumes: a row-major n×p design
// matrix and a length-n target, plus the checks shared by the steps that
// build or transform one (prepare, split, standardize).

import { DataError, ShapeError } from '../errors.js';

export interface Dataset {
  /** Row-major n×p: entry (i, j) is X[i * p + j]. */
  readonly X: Float64Array;
  readonly y: Float64Array;
  readonly n: number;
  readonly p: number;
  /** Column names, when known; errors use them to name a feature. */
  readonly featureNames?: readonly string[];
}

/** Throw ShapeError unless the array lengths agree with n and p. */
export function checkDataset(d: Dataset, what: string): void {
  if (!Number.isInteger(d.n) || !Number.isInteger(d.p) || d.n < 0 || d.p < 1) {
    throw new ShapeError(`${what}: expected integers n ≥ 0 and p ≥ 1, found n=${d.n}, p=${d.p}`);
  }
  if (d.X.length !== d.n * d.p) {
    throw new ShapeError(`${what}: X has ${d.X.length} entries, expected n·p = ${d.n * d.p}`);
  }
  if (d.y.length !== d.n) {
    throw new ShapeError(`${what}: y has ${d.y.length} entries, expected n = ${d.n}`);
  }
  if (d.featureNames !== undefined && d.featureNames.length !== d.p) {
    throw new ShapeError(`${what}: ${d.featureNames.length} feature names for p = ${d.p} columns`);
  }
}

/** How errors name feature j: its column name, else its 1-based position. */
export function featureLabel(d: Dataset, j: number): string {
  return d.featureNames?.[j] ?? `feature ${j + 1}`;
}

/**
 * Throw DataError if some feature takes a single value over all n rows. Such a
 * column cannot be standardised (its std is 0) and carries no information.
 * Exact equality rather than a variance threshold: rounding in the mean makes
 * the computed variance of a truly constant column slightly non-zero.
 */
export function checkNoConstantColumn(d: Dataset, where: string): void {
  if (d.n === 0) throw new DataError(`${where}: no rows`);
  for (let j = 0; j < d.p; j++) {
    const first = d.X[j]!;
    let constant = true;
    for (let i = 1; i < d.n && constant; i++) constant = d.X[i * d.p + j] === first;
    if (constant) {
      throw new DataError(
        `${where}, column ${featureLabel(d, j)}: every value is ${first} (zero variance)`,
      );
    }
  }
}
