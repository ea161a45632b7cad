// How the demo prints numbers: six significant digits, in exponent form when
// very small or large. The page also keeps every shown number at full
// precision in a data-value attribute (JSON), which the test reads.

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a < 1e-3 || a >= 1e5 ? x.toExponential(4) : x.toPrecision(6);
}

export function fmtList(xs: readonly number[]): string {
  return xs.length === 1 ? fmt(xs[0]) : `[${xs.map(fmt).join(', ')}]`;
}

/** Axis ticks: short, and in exponent form where fmt would use it. */
export function fmtTick(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a < 1e-3 || a >= 1e5 ? x.toExponential(1) : String(Number(x.toPrecision(3)));
}
