// The messages between the page (main.ts) and the worker that runs the job
// (worker.ts), and the settings the form produces. Everything here crosses
// postMessage, so it is plain data: no classes, no functions.

import type { ActivationName, FdCheckResult, HoagStep, Table } from 'hypergrad-webgpu';

export type BackendKind = 'webgpu' | 'cpu';

/** What the form asks for; the defaults are in job.ts (those of the CLI). */
export interface DemoSettings {
  backend: BackendKind;
  target: string;
  features: string[];
  model: 'linear' | 'mlp';
  /** Hidden widths of the MLP. */
  hidden: number[];
  activation: ActivationName;
  /** One α per Linear layer instead of one for all weights. */
  perLayer: boolean;
  alpha0: number;
  steps: number;
  /** Split seed; the weights are initialised with seed + 1, as in the CLI. */
  seed: number;
  valFraction: number;
  nugget: number;
  /** Finite-difference checks: at the tuned λ (as the CLI), and at the initial λ. */
  fdEnd: boolean;
  fdStart: boolean;
  /** CG iterations between state readbacks: 1 plots every iteration. */
  cgCheckEvery: number;
}

export type ToWorker =
  { type: 'probe' } | { type: 'run'; settings: DemoSettings; table: Table } | { type: 'cancel' };

export interface DataInfo {
  source: string;
  target: string;
  features: string[];
  totalRows: number;
  droppedRows: number;
  nTrain: number;
  nVal: number;
}

export interface ModelInfo {
  description: string;
  nParams: number;
  nHyper: number;
  solveSide: 'validation' | 'hyper';
}

export interface CgProgress {
  /** Which hypergradient evaluation (0, 1, ...) and in which part of the job. */
  call: number;
  phase: 'fd-start' | 'hoag' | 'fd-end';
  /** Which CG solve of that evaluation (one per λ_k on the 'hyper' side). */
  solve: number;
  iterations: number;
  relativeResidual: number;
}

export interface FdCheck extends FdCheckResult {
  when: 'start' | 'end';
}

export interface RunSummary {
  lambda: number[];
  value: number;
  initialValue: number;
  stoppedBy: string;
  steps: number;
  innerIterations: number;
  cgIterations: number;
  hoagSeconds: number;
  warnings: string[];
}

/** Device buffers still alive once the job has released what it made. */
export interface Released {
  /** After problem.destroy(): the backend's own pools only. */
  afterProblem: number;
  /** After backend.destroy(). */
  afterBackend: number;
}

export type FromWorker =
  | { type: 'probe'; available: boolean; info: string }
  | { type: 'data'; data: DataInfo }
  | { type: 'backend'; kind: BackendKind; info: string }
  | { type: 'model'; model: ModelInfo }
  | { type: 'cg'; progress: CgProgress }
  | { type: 'step'; step: HoagStep }
  | { type: 'fd'; checks: FdCheck[] }
  | (Outcome & { released: Released });

/** How a run ended; sent once its buffers are released. */
export type Outcome =
  | { type: 'done'; result: RunSummary; seconds: number }
  | { type: 'cancelled' }
  | { type: 'error'; name: string; message: string; noAdapter: boolean };
