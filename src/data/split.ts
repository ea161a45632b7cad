// Seeded train/validation split. The same seed gives the same split in every
// JavaScript engine, since the shuffle draws from Xorshift32, whose steps are
// exactly rounded.

import { ArgumentError } from '../errors.js';
import { Xorshift32 } from '../util/random.js';
import { checkDataset, type Dataset } from './dataset.js';

export interface SplitOptions {
  /** Integer in [0, 2^32 - 2]; the generator is seeded with seed + 1 (see permutation). */
  seed: number;
  /** Share of rows for validation, in (0, 1). Default 0.25. */
  valFraction?: number;
}

export interface TrainValSplit {
  readonly train: Dataset;
  readonly val: Dataset;
  /** Rows of the input that form each part, ascending. */
  readonly trainIndex: Uint32Array;
  readonly valIndex: Uint32Array;
  readonly seed: number;
  readonly valFraction: number;
}

/**
 * Shuffle the rows and give round(n · valFraction) of them to validation, the
 * rest to training. Each part keeps the input's row order (its index list is
 * sorted), so only membership depends on the seed.
 */
export function splitTrainVal(data: Dataset, options: SplitOptions): TrainValSplit {
  checkDataset(data, 'splitTrainVal');
  const valFraction = options.valFraction ?? 0.25;
  if (!(valFraction > 0 && valFraction < 1)) {
    throw new ArgumentError(`valFraction must lie in (0, 1), found ${valFraction}`);
  }
  const nVal = Math.round(data.n * valFraction);
  if (nVal < 1 || nVal > data.n - 1) {
    throw new ArgumentError(
      `valFraction ${valFraction} of ${data.n} rows gives ${nVal} validation rows; ` +
        `both parts need at least one row`,
    );
  }

  const order = permutation(data.n, options.seed);
  const valIndex = order.slice(0, nVal).sort();
  const trainIndex = order.slice(nVal).sort();
  return {
    train: takeRows(data, trainIndex),
    val: takeRows(data, valIndex),
    trainIndex,
    valIndex,
    seed: options.seed,
    valFraction,
  };
}

/**
 * A uniformly random permutation of 0..n-1 (Fisher–Yates). Xorshift32 cannot
 * hold the state 0, so the generator gets seed + 1: seed 0, the usual CLI
 * default, is then valid and distinct seeds stay distinct.
 */
export function permutation(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xfffffffe) {
    throw new ArgumentError(`seed must be an integer in [0, 2^32 - 2], found ${seed}`);
  }
  const rng = new Xorshift32(seed + 1);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  for (let i = n - 1; i > 0; i--) {
    // uniform() is a multiple of 2^-24, so j is exact; the bias for
    // n ≪ 2^24 rows is below 1e-4 and does not matter for a data split.
    const j = Math.floor(rng.uniform() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return order;
}

/** The dataset made of the given rows of `data`, in the given order. */
export function takeRows(data: Dataset, index: ArrayLike<number>): Dataset {
  const { p } = data;
  const X = new Float64Array(index.length * p);
  const y = new Float64Array(index.length);
  for (let r = 0; r < index.length; r++) {
    const i = index[r]!;
    X.set(data.X.subarray(i * p, (i + 1) * p), r * p);
    y[r] = data.y[i]!;
  }
  return { X, y, n: index.length, p, featureNames: data.featureNames };
}
