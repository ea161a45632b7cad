// Comparison of computed arrays against float64 expectations. On failure the
// message names the worst element, its value, the expected value and the
// tolerance at that element, so a failing test says where and by how much.

export interface CloseOptions {
  /** Absolute tolerance, a number or one per element. */
  atol?: number | ArrayLike<number>;
  /** Relative tolerance on |expected|. */
  rtol?: number;
  label?: string;
}

export interface CloseReport {
  ok: boolean;
  worstIndex: number;
  worstExcess: number;
  maxAbsError: number;
  /** max |a - e| / max |e|: the figure quoted in closing notes. */
  maxRelError: number;
  message: string;
}

export function compareClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: CloseOptions = {},
): CloseReport {
  const label = opts.label ?? 'array';
  if (actual.length !== expected.length) {
    return {
      ok: false,
      worstIndex: -1,
      worstExcess: Infinity,
      maxAbsError: Infinity,
      maxRelError: Infinity,
      message: `${label}: length ${actual.length}, expected ${expected.length}`,
    };
  }
  const rtol = opts.rtol ?? 0;
  let worstIndex = -1;
  let worstExcess = -Infinity;
  let maxAbs = 0;
  let maxE = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const atol = typeof opts.atol === 'number' ? opts.atol : (opts.atol?.[i] ?? 0);
    const tol = atol + rtol * Math.abs(e);
    const err = Math.abs(a - e);
    // NaN anywhere (a poisoned, unwritten element) is an infinite excess.
    const excess = Number.isNaN(err) ? Infinity : err - tol;
    if (excess > worstExcess) {
      worstExcess = excess;
      worstIndex = i;
    }
    maxAbs = Number.isNaN(err) ? Infinity : Math.max(maxAbs, err);
    maxE = Math.max(maxE, Math.abs(e));
  }
  const ok = actual.length === 0 || worstExcess <= 0;
  const i = worstIndex;
  const atolI = typeof opts.atol === 'number' ? opts.atol : (opts.atol?.[i] ?? 0);
  const message =
    actual.length === 0
      ? `${label}: empty`
      : `${label}: worst element [${i}] = ${actual[i]}, expected ${expected[i]}, ` +
        `|err| = ${Math.abs(actual[i] - expected[i]).toExponential(3)}, ` +
        `tol = ${(atolI + rtol * Math.abs(expected[i])).toExponential(3)}; ` +
        `max abs err ${maxAbs.toExponential(3)}, max rel err ${(maxE > 0 ? maxAbs / maxE : maxAbs).toExponential(3)}`;
  return {
    ok,
    worstIndex,
    worstExcess,
    maxAbsError: maxAbs,
    maxRelError: maxE > 0 ? maxAbs / maxE : maxAbs,
    message,
  };
}

/** Throws with the worst element when actual and expected differ. */
export function expectAllClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  opts: CloseOptions = {},
): CloseReport {
  const r = compareClose(actual, expected, opts);
  if (!r.ok) throw new Error(`not close: ${r.message}`);
  return r;
}

/** Relative error |a - b| / |b| of two scalars. */
export function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.abs(b);
}
