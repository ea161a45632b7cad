// The tuning job the demo runs, built the way the CLI builds it (src/cli/
// tune.ts, data.ts and main.ts): the same data pipeline, model shapes,
// weight seed and defaults, so that the demo, the library and `npm start`
// give the same numbers for the same settings. The CLI keeps its defaults in
// its own module, which is not part of the package's exports, so they are
// repeated here; test/demo.node.test.ts checks the demo against the library.

import {
  CARS_FEATURES,
  CARS_TARGET,
  splitTrainVal,
  standardize,
  toMatrix,
  type Dataset,
  type MlpSpec,
  type ProblemOptions,
  type Table,
} from 'hypergrad-webgpu';
import type { DataInfo, DemoSettings } from './protocol.js';

/** Initial α of the CLI: the MLP's many weights make α = 1 strong there. */
export const DEFAULT_ALPHA0 = { mlp: 0.1, linear: 1 } as const;

/**
 * The form's starting values. The CLI's default job (MLP 64-64, 10 steps)
 * takes minutes on a software GPU (SwiftShader); the demo starts with the
 * linear (ridge) model, which finishes in well under a minute there.
 */
export const DEFAULT_SETTINGS: DemoSettings = {
  backend: 'webgpu',
  target: CARS_TARGET,
  features: [...CARS_FEATURES],
  model: 'linear',
  hidden: [16],
  activation: 'leaky_relu',
  perLayer: false,
  alpha0: DEFAULT_ALPHA0.linear,
  steps: 8,
  seed: 0,
  valFraction: 0.25,
  nugget: 1e-6,
  fdEnd: true,
  fdStart: true,
  cgCheckEvery: 1,
};

export interface JobData {
  train: Dataset;
  val: Dataset;
  info: DataInfo;
}

/**
 * Rows with a missing value dropped, a seeded split, features and target
 * standardised with the training rows' statistics (the target too: the
 * linear model has no bias). For the cars table with its default columns this
 * is exactly carsDataset({ seed, valFraction, standardizeTarget: true }).
 */
export function prepareData(table: Table, s: DemoSettings): JobData {
  const data = toMatrix(table, { target: s.target, features: s.features });
  const split = splitTrainVal(data, { seed: s.seed, valFraction: s.valFraction });
  const { train, val } = standardize(split.train, split.val, { standardizeTarget: true });
  return {
    train,
    val: val!,
    info: {
      source: data.source,
      target: data.targetName,
      features: [...data.featureNames],
      totalRows: data.totalRows,
      droppedRows: data.droppedRows,
      nTrain: train.n,
      nVal: val!.n,
    },
  };
}

/** Linear: sizes [p, 1] without bias (ridge); MLP: biases and one activation. */
export function modelSpec(s: DemoSettings, p: number): MlpSpec {
  if (s.model === 'linear') return { sizes: [p, 1], bias: false };
  return { sizes: [p, ...s.hidden, 1], activation: s.activation, bias: true };
}

export function problemOptions(s: DemoSettings, data: JobData): ProblemOptions {
  return {
    model: modelSpec(s, data.train.p),
    train: data.train,
    val: data.val,
    penalty: s.perLayer ? 'perLayer' : 'scalar',
    validation: 'plain',
    alpha: s.alpha0,
    seed: s.seed + 1,
    nugget: s.nugget,
  };
}
