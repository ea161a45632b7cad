// Feature (and optionally target) standardisation with statistics from the
// training rows only, so that nothing about the validation rows leaks into
// the model or the hyperparameters tuned on them.
//
// Convention: the population standard deviation (divide by n, as
// scikit-learn's StandardScaler does), so each standardised training column
// has mean 0 and (population) standard deviation 1, up to rounding.

import { DataError, ShapeError } from '../errors.js';
import { checkDataset, checkNoConstantColumn, type Dataset } from './dataset.js';

export interface StandardizeOptions {
  /**
   * Also centre and scale y. Default false: the loss and predictions stay in
   * the target's units (e.g. miles per gallon), and a model's intercept absorbs
   * the mean. When true, map predictions back with y = z · targetStd + targetMean.
   */
  standardizeTarget?: boolean;
}

export interface Standardization {
  /** Per-feature mean and population std of the training rows. */
  readonly featureMean: Float64Array;
  readonly featureStd: Float64Array;
  /** 0 and 1 unless standardizeTarget, which makes them y's training mean and std. */
  readonly targetMean: number;
  readonly targetStd: number;
}

export interface Standardized {
  readonly train: Dataset;
  /** Present when a validation set was given. */
  readonly val?: Dataset;
  readonly stats: Standardization;
}

/**
 * Standardise `train` with its own statistics and `val` with train's. A
 * feature (or, with standardizeTarget, a target) that is constant over the
 * training rows is a DataError naming it.
 */
export function standardize(
  train: Dataset,
  val?: Dataset,
  options: StandardizeOptions = {},
): Standardized {
  checkDataset(train, 'standardize: train');
  if (val !== undefined) {
    checkDataset(val, 'standardize: val');
    if (val.p !== train.p) {
      throw new ShapeError(`standardize: val has ${val.p} features, train has ${train.p}`);
    }
  }
  checkNoConstantColumn(train, 'standardize: training data');

  const { n, p } = train;
  const featureMean = new Float64Array(p);
  const featureStd = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const [mean, std] = meanStd(train.X, j, p, n);
    featureMean[j] = mean;
    featureStd[j] = std;
  }

  let targetMean = 0;
  let targetStd = 1;
  if (options.standardizeTarget) {
    if (train.y.every((v) => v === train.y[0])) {
      throw new DataError(`standardize: training data, target: every value is ${train.y[0]}`);
    }
    [targetMean, targetStd] = meanStd(train.y, 0, 1, n);
  }

  const stats: Standardization = { featureMean, featureStd, targetMean, targetStd };
  return {
    train: applyStandardization(train, stats),
    val: val === undefined ? undefined : applyStandardization(val, stats),
    stats,
  };
}

/** Apply given statistics to any dataset with the same features (val, test, new rows). */
export function applyStandardization(data: Dataset, stats: Standardization): Dataset {
  checkDataset(data, 'applyStandardization');
  if (data.p !== stats.featureMean.length) {
    throw new ShapeError(
      `applyStandardization: data has ${data.p} features, the statistics ${stats.featureMean.length}`,
    );
  }
  const { n, p } = data;
  const X = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) {
      X[i * p + j] = (data.X[i * p + j]! - stats.featureMean[j]!) / stats.featureStd[j]!;
    }
  }
  const y = data.y.map((v) => (v - stats.targetMean) / stats.targetStd);
  return { X, y, n, p, featureNames: data.featureNames };
}

/** Two-pass mean and population std of column j of a row-major n×p array. */
function meanStd(a: Float64Array, j: number, p: number, n: number): [number, number] {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i * p + j]!;
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += (a[i * p + j]! - mean) ** 2;
  return [mean, Math.sqrt(ss / n)];
}
