// Timing and the shared workload of the benchmark: medians over repeats after
// a warm-up, the notebook's network and data (reference case B), and larger
// generated datasets for the growth curves. Runs in Node and in the browser.

/** Layer widths of the notebook's network. */
export const NOTEBOOK_SIZES = [10, 64, 64, 1] as const;

export interface Timing {
  /** Median over `samples` runs, in milliseconds. */
  medianMs: number;
  samples: number;
  minMs: number;
  maxMs: number;
}

export interface MeasureOptions {
  /** Untimed runs first (pipeline compilation, first touch); default 1. */
  warmup?: number;
  /** At least this many timed runs; default 3. */
  min?: number;
  /** At most this many; default 15. */
  max?: number;
  /** Stop adding runs past `min` once this much time was spent; default 1500 ms. */
  budgetMs?: number;
}

/** Runs `fn` until the sample count and time budget are met; returns the median. */
export async function measure(
  fn: () => Promise<unknown> | unknown,
  opts: MeasureOptions = {},
): Promise<Timing> {
  const { warmup = 1, min = 3, max = 15, budgetMs = 1500 } = opts;
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < max && (times.length < min || performance.now() - start < budgetMs)) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const medianMs = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { medianMs, samples: times.length, minMs: times[0], maxMs: times[times.length - 1] };
}

/** Rows of a regression dataset, row-major, as the model's DataSet wants. */
export interface Rows {
  X: number[];
  y: number[];
  n: number;
}

/** What the harness needs of reference case B (test/fixtures/reference). */
export interface CaseB {
  sizes: number[];
  slope: number;
  alpha: number;
  nugget: number;
  wStar: number[];
  train: Rows;
  val: Rows;
  /** Reference hypergradient (val_plain, CG, nugget 1e-6, float64). */
  hypergradient: number;
}

interface CaseBJson {
  data: { X_train: number[][]; y_train: number[]; X_val: number[][]; y_val: number[] };
  instances: {
    alpha: number;
    w_star: number[];
    results: { val_plain: { hypergradient: number } };
  }[];
}

export function caseBFromJson(json: CaseBJson): CaseB {
  const inst = json.instances.find((i) => i.alpha === 1)!;
  const rows = (X: number[][], y: number[]): Rows => ({ X: X.flat(), y: [...y], n: y.length });
  return {
    sizes: [...NOTEBOOK_SIZES],
    slope: 0.01,
    alpha: 1,
    nugget: 1e-6,
    wStar: inst.w_star,
    train: rows(json.data.X_train, json.data.y_train),
    val: rows(json.data.X_val, json.data.y_val),
    hypergradient: inst.results.val_plain.hypergradient,
  };
}

/** The reference README's fixed direction v[i] = ((i·7919 mod 13) − 6)/6. */
export function hvpDirection(length: number): number[] {
  return Array.from({ length }, (_, i) => (((i * 7919) % 13) - 6) / 6);
}

/**
 * n rows of `inputs` Irwin–Hall normals (xorshift32, as the reference data)
 * with targets X·w0 + 0.1·noise, for sizes beyond case B's 25 rows.
 */
export function generatedRows(n: number, inputs: number, seed = 11): Rows {
  let s = seed >>> 0;
  const uniform = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s >>> 8) / 16777216;
  };
  const normal = () => {
    let t = 0;
    for (let i = 0; i < 12; i++) t += uniform();
    return t - 6;
  };
  const w0 = Array.from({ length: inputs }, normal);
  const X = Array.from({ length: n * inputs }, normal);
  const y = Array.from({ length: n }, (_, i) => {
    let acc = 0;
    for (let j = 0; j < inputs; j++) acc += X[i * inputs + j] * w0[j];
    return acc + 0.1 * normal();
  });
  return { X, y, n };
}

/** ‖a − b‖₂ / ‖b‖₂. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / (den || 1));
}
