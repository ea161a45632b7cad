// Public entry point: backends, the model, the solvers and the data helpers
// that work in both browsers and Node (file loading lives in ./data/node).

export * from './errors.js';
export * from './backend/types.js';
export { CpuBackend } from './backend/cpu.js';
export { WebGpuBackend } from './backend/webgpu.js';
export { requestGpu } from './gpu/runtime.js';
export {
  Mlp,
  type MlpSpec,
  type ParamBlock,
  type PenaltyKind,
  type WeightsJson,
  type ActivationName,
} from './model/mlp.js';
export { Objective, type DataSet, checkDataSet } from './model/objective.js';
export {
  ConjugateGradient,
  type CgOptions,
  type CgResult,
  type LinearOperator,
} from './solvers/cg.js';
export { NewtonFit, type FitOptions, type FitResult } from './solvers/newton.js';
export {
  HyperProblem,
  type ProblemOptions,
  type HypergradientOptions,
  type HypergradientResult,
} from './solvers/problem.js';
export {
  hoag,
  toleranceAt,
  type HoagOptions,
  type HoagResult,
  type HoagStep,
  type ToleranceSchedule,
} from './solvers/hoag.js';
export {
  finiteDifferenceCheck,
  type CgSummary,
  type FdCheckOptions,
  type FdCheckResult,
  type FitSummary,
} from './solvers/check.js';
export { Xorshift32 } from './util/random.js';
export { philox2x32, philoxUniform, gumbelNoiseAt } from './util/philox.js';
export {
  gumbelSoftmax,
  gumbelSoftmaxBackward,
  gumbelSoftmaxTangent,
  gumbelNoise,
  sampleGumbelSoftmax,
  type GumbelMode,
  type GumbelSoftmaxSpec,
} from './model/gumbel-softmax.js';
export * from './data/index.js';
