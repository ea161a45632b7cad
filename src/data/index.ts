// The data layer's browser-safe API. File loading lives in ./node.ts, which
// uses node:fs and is imported separately by Node code (CLI, tests).

export { type Table, parseCsv, parseJsonRecords, tableFromRecords } from './table.js';
export { type Dataset, checkDataset } from './dataset.js';
export {
  type MatrixOptions,
  type PreparedData,
  toMatrix,
  isNumericColumn,
  isMissing,
} from './prepare.js';
export {
  type SplitOptions,
  type TrainValSplit,
  splitTrainVal,
  permutation,
  takeRows,
} from './split.js';
export {
  type StandardizeOptions,
  type Standardization,
  type Standardized,
  standardize,
  applyStandardization,
} from './standardize.js';
export {
  type CarsOptions,
  type CarsDataset,
  CARS_SOURCE,
  CARS_TARGET,
  CARS_FEATURES,
  loadCars,
  carsDataset,
} from './cars.js';
