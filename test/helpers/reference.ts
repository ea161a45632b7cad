// Loads the float64 reference cases, copied from the shared reference folder into
// test/fixtures/reference (a plain clone has no shared folder beside it).

import caseA from '../fixtures/reference/caseA_linear_ridge.json';
import caseB from '../fixtures/reference/caseB_mlp_leakyrelu.json';
import trajectory from '../fixtures/reference/caseA_hoag_trajectory_and_optimum.json';

export interface RefData {
  Xtr: Float64Array;
  ytr: Float64Array;
  Xval: Float64Array;
  yval: Float64Array;
  ntr: number;
  nval: number;
  p: number;
}

const flat = (rows: number[][]) => Float64Array.from(rows.flat());

export function refData(c: {
  data: { X_train: number[][]; y_train: number[]; X_val: number[][]; y_val: number[] };
}): RefData {
  const d = c.data;
  return {
    Xtr: flat(d.X_train),
    ytr: Float64Array.from(d.y_train),
    Xval: flat(d.X_val),
    yval: Float64Array.from(d.y_val),
    ntr: d.y_train.length,
    nval: d.y_val.length,
    p: d.X_train[0].length,
  };
}

/** The fixed direction of the cases' hvp_check: v[i] = ((i·7919 mod 13) − 6)/6. */
export function hvpCheckVector(n: number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = (((i * 7919) % 13) - 6) / 6;
  return v;
}

export { caseA, caseB, trajectory };
