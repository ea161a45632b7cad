// The bundled example: the Auto MPG data as shipped by vega-datasets
// (406 cars), and the ready-to-fit dataset built from it.
//
// How the JSON is reached: vega-datasets' `exports` map exposes only its
// entry point (which fetches files from a CDN), so the bare specifier
// 'vega-datasets/data/cars.json' is refused by Node and by Vite. A relative
// path to the installed file is not subject to `exports` and works in Node
// (tsx), vitest (Node and browser) and a Vite bundle alike. It assumes the
// package is installed in this repository's node_modules, which holds for a
// private app (package.json has "private": true); test/data.test.ts fails
// loudly if that ever changes.
//
// Why Year is not a feature: it is an ISO date string ('1970-01-01'), so the
// numeric-column rule leaves it out; and this copy has no 1981 rows (they are
// filed under 1982), so a model year derived from it would carry that quirk.
// Origin and Name are text. The features are the five numeric columns.

import records from '../../node_modules/vega-datasets/data/cars.json' with { type: 'json' };
import { toMatrix, type PreparedData } from './prepare.js';
import { splitTrainVal } from './split.js';
import { standardize, type Standardization } from './standardize.js';
import { tableFromRecords, type Table } from './table.js';
import type { Dataset } from './dataset.js';

export const CARS_SOURCE = 'vega-datasets/data/cars.json';
export const CARS_TARGET = 'Miles_per_Gallon';
export const CARS_FEATURES: readonly string[] = [
  'Cylinders',
  'Displacement',
  'Horsepower',
  'Weight_in_lbs',
  'Acceleration',
];

/** The raw cars table: 406 rows, 9 columns, values as in the JSON. */
export function loadCars(): Table {
  return tableFromRecords(records, CARS_SOURCE);
}

export interface CarsOptions {
  /** Split seed, see splitTrainVal. Default 0. */
  seed?: number;
  /** Share of rows for validation. Default 0.25. */
  valFraction?: number;
  /** Also standardise miles per gallon, see standardize. Default false. */
  standardizeTarget?: boolean;
}

/** Everything a fit needs, and everything a CLI reports about the data. */
export interface CarsDataset {
  readonly source: string;
  readonly target: string;
  readonly featureNames: readonly string[];
  /** Rows in the file, rows dropped for a missing value, rows used. */
  readonly totalRows: number;
  readonly droppedRows: number;
  readonly n: number;
  readonly nTrain: number;
  readonly nVal: number;
  readonly seed: number;
  readonly valFraction: number;
  /** Standardised with the training statistics in `stats`. */
  readonly train: Dataset;
  readonly val: Dataset;
  /** Rows of the cleaned data (after dropping) in each part. */
  readonly trainIndex: Uint32Array;
  readonly valIndex: Uint32Array;
  readonly stats: Standardization;
  /** The cleaned, unstandardised data the split was drawn from. */
  readonly data: PreparedData;
}

/** Cars with missing values dropped, split with `seed`, standardised on train. */
export function carsDataset(options: CarsOptions = {}): CarsDataset {
  const seed = options.seed ?? 0;
  const data = toMatrix(loadCars(), {
    target: CARS_TARGET,
    features: CARS_FEATURES,
    dropMissing: true,
  });
  const split = splitTrainVal(data, { seed, valFraction: options.valFraction });
  const { train, val, stats } = standardize(split.train, split.val, {
    standardizeTarget: options.standardizeTarget,
  });
  return {
    source: CARS_SOURCE,
    target: CARS_TARGET,
    featureNames: data.featureNames,
    totalRows: data.totalRows,
    droppedRows: data.droppedRows,
    n: data.n,
    nTrain: train.n,
    nVal: val!.n,
    seed,
    valFraction: split.valFraction,
    train,
    val: val!,
    trainIndex: split.trainIndex,
    valIndex: split.valIndex,
    stats,
    data,
  };
}
