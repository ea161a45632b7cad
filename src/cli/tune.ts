// The default job: tune the L2 hyperparameters of a model with HOAG on the
// bundled cars table or the user's data, check the final hypergradient by
// finite differences, print a summary and optionally write a JSON report.

import { throwIfAborted } from '../errors.js';
import type { ActivationName, Mlp, MlpSpec, PenaltyKind } from '../model/mlp.js';
import {
  finiteDifferenceCheck,
  type CgSummary,
  type FdCheckResult,
  type FitSummary,
} from '../solvers/check.js';
import { hoag, type HoagStep } from '../solvers/hoag.js';
import { HyperProblem } from '../solvers/problem.js';
import { chooseBackend, cpuBackend, type BackendChoice, type ChosenBackend } from './backend.js';
import { loadTuningData, type DataOptions, type DataSummary } from './data.js';
import { num, nums, writeJsonAtomic } from './output.js';
import { StepProgress } from './progress.js';

export interface TuneConfig {
  backend: BackendChoice;
  model: 'mlp' | 'linear';
  /** Hidden widths of the MLP. */
  hidden: number[];
  activation: ActivationName;
  /** One α per layer instead of one for all weights. */
  perLayer: boolean;
  alpha0: number;
  steps: number;
  /** Inner-fit iterations per outer step at most. */
  innerIters: number;
  /** HOAG's ε₀. */
  tol0: number;
  /** Split seed; the weights are initialised with seed + 1 (Xorshift32 needs a non-zero state). */
  seed: number;
  nugget: number;
  validation: 'plain' | 'penalised';
  /** Run the finite-difference check at the end. */
  check: boolean;
  /**
   * Where the check re-solves and differences F: 'cpu' on a float64 twin of
   * the problem (the f32 hypergradient is then taken at the twin's ω*),
   * 'same' on the tuning backend; 'auto' = 'cpu' when tuning in f32.
   */
  checkBackend: 'auto' | 'cpu' | 'same';
  json?: string;
  data: DataOptions;
}

export async function runTuning(cfg: TuneConfig, signal: AbortSignal): Promise<void> {
  const started = performance.now();
  const data = loadTuningData(cfg.data);
  const spec = modelSpec(cfg, data.train.p);
  const penalty: PenaltyKind = cfg.perLayer ? 'perLayer' : 'scalar';

  const chosen = await chooseBackend(cfg.backend);
  if (chosen.fallbackReason)
    console.error(
      `notice: --backend auto found no WebGPU adapter, using the float64 CPU backend (${chosen.fallbackReason})`,
    );
  console.log(`backend: ${chosen.description}`);
  printData(data.summary);

  const options = {
    model: spec,
    train: data.train,
    val: data.val,
    penalty,
    validation: cfg.validation,
    alpha: cfg.alpha0,
    seed: cfg.seed + 1,
    nugget: cfg.nugget,
  };
  const problem = new HyperProblem(chosen.backend, options);
  const f32 = chosen.backend.eps > 1e-10;
  const oracleWanted =
    cfg.check &&
    (cfg.checkBackend === 'cpu' ? chosen.kind !== 'cpu' : cfg.checkBackend === 'auto' && f32);
  let oracle: HyperProblem | undefined;
  try {
    const m = problem.mlp;
    console.log(
      `model: ${cfg.model === 'linear' ? 'linear (ridge)' : `MLP ${m.activation.kind}`} [${m.sizes.join(', ')}], ` +
        `bias ${m.bias}, ${m.nParams} parameters; ` +
        `${penalty === 'scalar' ? 'one α for all weights' : `one α per layer (${problem.nHyper})`}; ` +
        `validation loss ${cfg.validation}; CG nugget ${cfg.nugget}`,
    );
    console.log(
      `HOAG: up to ${cfg.steps} outer steps from α = ${cfg.alpha0}, at most ${cfg.innerIters} inner-fit iterations each, inner tolerance ε₀ = ${cfg.tol0}`,
    );

    // The outer loop, one printed line per step.
    const progress = new StepProgress(cfg.steps, 'HOAG');
    let result;
    try {
      result = await hoag(problem, {
        steps: cfg.steps,
        tolerance0: cfg.tol0,
        fit: { method: 'auto', maxIter: cfg.innerIters },
        signal,
        onStep: (s) => progress.step(s.k + 1, stepLine(s), num(s.value, 4)),
      });
    } finally {
      progress.stop();
    }

    // The finite-difference check of the hypergradient at the tuned λ.
    // In f32 the difference of F over the step is a few hundred ulps of F and
    // the f32 re-solves stop at the rounding floor of the gradient, so by
    // default the check re-solves and differences on a float64 twin.
    const checks: FdCheckResult[] = [];
    if (oracleWanted) oracle = new HyperProblem(cpuBackend(), options);
    if (cfg.check)
      for (let i = 0; i < problem.nHyper; i++) {
        throwIfAborted(signal);
        checks.push(
          await finiteDifferenceCheck(problem, {
            index: i,
            oracle,
            // Tight re-solves: a finite difference of F is only as good as ω*(λ ± h).
            fit: { method: 'auto', maxIter: Math.max(cfg.innerIters, 1000), signal },
            // A bound, not the expected count: at the converged ω* f32 CG took
            // 267 iterations, but where it stalls (near ‖r‖/‖b‖ ≈ 1e-4 on
            // nearly singular systems) it would otherwise run to n = 4,609.
            cg: { maxIter: 1000, signal },
          }),
        );
      }
    throwIfAborted(signal);

    const wall = (performance.now() - started) / 1000;
    console.log('');
    console.log(
      `tuned λ: ${nums(result.lambda)} (stopped by ${result.stoppedBy} after ${result.history.length} steps)`,
    );
    console.log(
      `validation loss: before ${num(result.initialValue)} (λ = ${nums(result.history[0].lambda)}), after ${num(result.value)}`,
    );
    const valid = result.history.filter((s) => s.valid).length;
    console.log(
      `hypergradients valid (inner fit and CG converged) at ${valid} of ${result.history.length} steps`,
    );
    for (const w of result.warnings) console.log(`warning: ${w}`);
    for (const c of checks) printCheck(c, problem.nHyper, chosen);
    console.log(
      `iterations: ${result.innerIterations} inner-fit, ${result.cgIterations} CG (hypergradient solves)`,
    );
    console.log(`wall time: ${wall.toFixed(1)} s (HOAG ${result.seconds.toFixed(1)} s)`);

    if (cfg.json !== undefined) {
      writeJsonAtomic(cfg.json, {
        command: 'tune',
        options: { ...cfg, json: undefined },
        backend: backendJson(chosen),
        data: data.summary,
        model: {
          ...modelJson(m),
          nParams: m.nParams,
          penalty,
          nHyper: problem.nHyper,
          weightSeed: cfg.seed + 1,
        },
        result: {
          lambda: result.lambda,
          initialValue: result.initialValue,
          value: result.value,
          stoppedBy: result.stoppedBy,
          atLowerBound: result.atLowerBound,
          atUpperBound: result.atUpperBound,
          warnings: result.warnings,
          innerIterations: result.innerIterations,
          cgIterations: result.cgIterations,
          hoagSeconds: result.seconds,
        },
        finiteDifferenceCheck: checks,
        history: result.history,
        wallSeconds: wall,
      });
      console.log(`report written to ${cfg.json}`);
    }
  } finally {
    problem.destroy();
    chosen.backend.destroy();
    if (oracle) {
      oracle.destroy();
      oracle.backend.destroy();
    }
  }
}

function printCheck(c: FdCheckResult, nHyper: number, chosen: ChosenBackend): void {
  const which = nHyper > 1 ? ` of α[${c.index}]` : '';
  const error = (g: number) =>
    `relative error ${num(Math.abs(g - c.finiteDifference) / Math.abs(c.finiteDifference), 3)}`;
  if (c.differencedOn === 'problem') {
    console.log(
      `finite-difference check${which} at λ = ${num(c.lambda)} (h = ${num(c.h, 3)}): ` +
        `FD ${num(c.finiteDifference, 8)}, implicit ${num(c.hypergradient, 8)}, ` +
        `${error(c.hypergradient)} (absolute ${num(Math.abs(c.finiteDifference - c.hypergradient), 3)}; ` +
        `${cgText(c.cg)})`,
    );
    printCheckFits(c);
    return;
  }
  console.log(
    `finite-difference check${which} at λ = ${num(c.lambda)} (h = ${num(c.h, 3)}; ` +
      `ω* re-solved and F differenced in float64 on the CPU):`,
  );
  const rows: [string, string][] = [
    ['F at λ, converged fit (float64)', num(c.values.at, 8)],
    ['FD of F (float64)', num(c.finiteDifference, 8)],
    [
      `implicit, ${chosen.kind} at that ω*`,
      `${num(c.hypergradient, 8)}  ${error(c.hypergradient)} (${cgText(c.cg)})`,
    ],
    [
      'implicit, float64 at that ω*',
      `${num(c.oracleHypergradient!, 8)}  ${error(c.oracleHypergradient!)} (${cgText(c.oracleCg!)})`,
    ],
    [
      `implicit, ${chosen.kind} at HOAG's last ω`,
      `${num(c.hypergradientBeforeRefit!, 8)}  ${error(c.hypergradientBeforeRefit!)} (inexact fit)`,
    ],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
  printCheckFits(c);
}

function cgText(g: CgSummary): string {
  const residual = g.status === 'converged' ? '' : `, ‖r‖/‖b‖ ${num(g.relativeResidual, 2)}`;
  return `CG ${g.status}, ${g.iterations} iterations${residual}`;
}

/** How the check's three re-solves ended; a warning when one did not converge. */
function printCheckFits(c: FdCheckResult): void {
  const f = c.fits;
  const one = (name: string, s: FitSummary) =>
    `${name} ${s.status} (${s.iterations} iterations, ‖∇‖ ${num(s.gradNorm, 2)})`;
  console.log(`  re-solves: ${one('λ', f.at)}; ${one('λ − h', f.minus)}; ${one('λ + h', f.plus)}`);
  const bad = [f.at, f.minus, f.plus].some((s) => !s.converged);
  if (bad)
    console.log(
      '  warning: a re-solve did not converge, so F and ω* there are inexact and this check is not conclusive',
    );
}

/** The architecture as JSON; a single layer has no activation to name. */
export function modelJson(m: Mlp): MlpSpec {
  const spec = m.toJSON();
  return m.depth === 1 ? { sizes: spec.sizes, bias: spec.bias } : spec;
}

function modelSpec(cfg: TuneConfig, p: number): MlpSpec {
  if (cfg.model === 'linear') return { sizes: [p, 1], bias: false };
  return { sizes: [p, ...cfg.hidden, 1], activation: cfg.activation, bias: true };
}

function printData(d: DataSummary): void {
  const dropped = d.droppedRows > 0 ? `, ${d.droppedRows} dropped for missing values` : '';
  console.log(
    `data: ${d.source}: ${d.totalRows} rows${dropped}, ${d.totalRows - d.droppedRows} used`,
  );
  console.log(`  target ${d.target}; ${d.features.length} features: ${d.features.join(', ')}`);
  if (d.ignoredColumns.length > 0) console.log(`  not used: ${d.ignoredColumns.join(', ')}`);
  const v = d.validation;
  if (v.kind === 'split')
    console.log(
      `  split: ${d.nTrain} training / ${d.nVal} validation rows (seed ${v.seed}, validation fraction ${v.valFraction})`,
    );
  else {
    const vd = v.droppedRows > 0 ? `, ${v.droppedRows} dropped for missing values` : '';
    console.log(`  ${d.nTrain} training rows; validation: ${v.source}, ${d.nVal} rows${vd}`);
  }
  const st = d.standardization;
  console.log(
    `  features and target standardised with the training rows’ statistics (target mean ${num(st.targetMean, 4)}, ` +
      `std ${num(st.targetStd, 4)}); losses are in units of the target's variance`,
  );
}

function stepLine(s: HoagStep): string {
  const verdict = s.accepted
    ? s.reason
      ? `accepted (warning: ${s.reason})`
      : 'accepted'
    : `rejected: ${s.reason}`;
  return (
    `step ${String(s.k).padStart(3)}  λ ${nums(s.lambda)}  F ${num(s.value, 8)}  ∇F ${nums(s.hypergradient, 4)}  ` +
    `(${s.innerIterations} inner, ${s.cgIterations} CG, ${s.seconds.toFixed(1)} s)  ${verdict}`
  );
}

export function backendJson(c: ChosenBackend): Record<string, unknown> {
  return {
    kind: c.kind,
    description: c.description,
    ...(c.fallbackReason ? { fallbackReason: c.fallbackReason } : {}),
  };
}
