// The data of a tuning run: the bundled cars table, or the user's file(s),
// turned into standardised training and validation sets plus a summary the
// CLI prints and writes to its JSON report.

import { carsDataset } from '../data/cars.js';
import type { Dataset } from '../data/dataset.js';
import { loadTableFile } from '../data/node.js';
import { toMatrix, type PreparedData } from '../data/prepare.js';
import { splitTrainVal } from '../data/split.js';
import { standardize, type Standardization } from '../data/standardize.js';
import { HypergradError } from '../errors.js';

export interface DataOptions {
  /** CSV or JSON records file; absent: the bundled cars table. */
  data?: string;
  target?: string;
  features?: string[];
  /** A given validation file: no split. */
  val?: string;
  valFraction: number;
  seed: number;
}

export interface DataSummary {
  source: string;
  target: string;
  features: string[];
  /** Rows read from the training (or only) file, rows dropped for a missing value. */
  totalRows: number;
  droppedRows: number;
  nTrain: number;
  nVal: number;
  /** How the validation rows were chosen. */
  validation:
    | { kind: 'split'; seed: number; valFraction: number }
    | { kind: 'file'; source: string; totalRows: number; droppedRows: number };
  /** Columns of the file used neither as feature nor as target. */
  ignoredColumns: string[];
  /** Training-row statistics; the target's too (losses are in units of its variance). */
  standardization: {
    featureMean: number[];
    featureStd: number[];
    targetMean: number;
    targetStd: number;
  };
}

export interface TuningData {
  train: Dataset;
  val: Dataset;
  summary: DataSummary;
}

/**
 * Features and target standardised with the training rows' statistics. The
 * target too, because the linear (ridge) model has no bias: an uncentred
 * target (cars: 23 mpg on average) would leave it fitting the mean alone.
 * Losses are then in units of the target's variance (0.5 ≈ predicting the mean).
 */
export function loadTuningData(opts: DataOptions): TuningData {
  if (opts.data === undefined) return carsData(opts);
  const file = opts.data;
  const target = opts.target!;
  const data = toMatrix(loadTableFile(file), { target, features: opts.features });

  if (opts.val !== undefined) {
    const valFile = opts.val;
    const valData = toMatrix(loadTableFile(valFile), {
      target,
      features: data.featureNames,
      minRows: 1,
    });
    const s = withFileName(file, () => standardize(data, valData, { standardizeTarget: true }));
    return {
      train: s.train,
      val: s.val!,
      summary: summarise(data, data.n, valData.n, s.stats, {
        kind: 'file',
        source: valFile,
        totalRows: valData.totalRows,
        droppedRows: valData.droppedRows,
      }),
    };
  }

  const split = withFileName(file, () =>
    splitTrainVal(data, { seed: opts.seed, valFraction: opts.valFraction }),
  );
  const s = withFileName(file, () =>
    standardize(split.train, split.val, { standardizeTarget: true }),
  );
  return {
    train: s.train,
    val: s.val!,
    summary: summarise(data, split.train.n, split.val.n, s.stats, {
      kind: 'split',
      seed: opts.seed,
      valFraction: split.valFraction,
    }),
  };
}

function carsData(opts: DataOptions): TuningData {
  const c = carsDataset({
    seed: opts.seed,
    valFraction: opts.valFraction,
    standardizeTarget: true,
  });
  return {
    train: c.train,
    val: c.val,
    summary: summarise(c.data, c.nTrain, c.nVal, c.stats, {
      kind: 'split',
      seed: c.seed,
      valFraction: c.valFraction,
    }),
  };
}

function summarise(
  data: PreparedData,
  nTrain: number,
  nVal: number,
  stats: Standardization,
  validation: DataSummary['validation'],
): DataSummary {
  return {
    source: data.source,
    target: data.targetName,
    features: [...data.featureNames],
    totalRows: data.totalRows,
    droppedRows: data.droppedRows,
    nTrain,
    nVal,
    validation,
    ignoredColumns: [...data.ignoredColumns],
    standardization: {
      featureMean: Array.from(stats.featureMean),
      featureStd: Array.from(stats.featureStd),
      targetMean: stats.targetMean,
      targetStd: stats.targetStd,
    },
  };
}

/**
 * Runs a data step whose errors may not say which file they are about (the
 * split and standardisation see arrays, not files) and puts the file name in
 * front of such a message, keeping the error's class.
 */
export function withFileName<T>(file: string, step: () => T): T {
  try {
    return step();
  } catch (err) {
    if (err instanceof HypergradError && !err.message.includes(file)) {
      const Named = err.constructor as new (message: string) => HypergradError;
      throw new Named(`${file}: ${err.message}`);
    }
    throw err;
  }
}
