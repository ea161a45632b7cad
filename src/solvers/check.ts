// A finite-difference check of the implicit hypergradient (method.md,
// "Checks"): central differences of F(λ) = L_val(ω*(λ), λ) in one λ_i, with
// the inner problem re-solved tightly at λ_i·(1 ± h), warm-started from ω*.
//
// On an f32 backend F itself cannot be differenced well: its change over the
// step is a few hundred ulps of F, and the f32 re-solves stop where rounding
// of the gradient stops them, with ω still moving along flat directions of
// L_train (on the cars MLP, a re-solve to ‖∇‖ = 2.7e-5 left F 2.8e-6 from
// its converged value, twice F's change over the step). An `oracle`, a
// float64 twin of the problem, does the differencing there instead, and the
// f32 hypergradient is evaluated at the ω* the twin refined.

import { ArgumentError } from '../errors.js';
import type { CgStatusName } from './cg.js';
import type { FitOptions, FitResult } from './newton.js';
import type { HyperProblem, HypergradientOptions, HypergradientResult } from './problem.js';

export interface FdCheckOptions {
  /** Which hyperparameter; default 0. */
  index?: number;
  /** Relative step h (λ_i ± h·λ_i); default 1e-2 on f32 backends, 1e-3 on f64 (of the problem that differences F). */
  hRel?: number;
  /** Options of the tight re-solves (on the oracle when there is one). */
  fit?: FitOptions;
  /** CG options of the hypergradient solves (all of them); the defaults of `hypergradient`. */
  cg?: HypergradientOptions['cg'];
  /**
   * A float64 twin of `problem`: the same model, data, penalty, validation
   * variant and nugget on the CPU backend. With it, ω and λ are copied to
   * the twin, ω*(λ) and ω*(λ ± h) are solved there in float64, F is
   * differenced there, and `problem`'s own implicit hypergradient is taken
   * at the refined ω*(λ) (copied back; `problem` keeps it). So the check
   * measures `problem`'s arithmetic against float64 at a point where the
   * implicit function theorem applies.
   */
  oracle?: HyperProblem;
}

export interface FdCheckResult {
  index: number;
  lambda: number;
  h: number;
  /** (F(λ+h) − F(λ−h)) / 2h. */
  finiteDifference: number;
  /** The problem's implicit hypergradient at λ, at the tightly solved ω*. */
  hypergradient: number;
  relativeError: number;
  /**
   * F at λ − h, λ and λ + h from the tight re-solves (on the oracle when
   * there is one): `at` is F(λ) at a converged ω*, unlike an outer loop's
   * value from a capped fit.
   */
  values: { minus: number; at: number; plus: number };
  /** Where F was differenced: the problem's own backend, or the float64 oracle. */
  differencedOn: 'problem' | 'oracle';
  /** With an oracle: the float64 implicit hypergradient at the same ω*. */
  oracleHypergradient?: number;
  /**
   * With an oracle: the problem's hypergradient at the ω it had on entry
   * (its own, looser fit), before the refinement.
   */
  hypergradientBeforeRefit?: number;
  /** ‖∇_ω L_train‖ at the ω* the hypergradient was taken (as the problem computes it). */
  innerGradNorm: number;
  /** The problem's CG solve at that ω*. */
  cg: CgSummary;
  /** With an oracle: the float64 CG solve at that ω*. */
  oracleCg?: CgSummary;
  /** The tight re-solves at λ, λ − h and λ + h (on the oracle when there is one). */
  fits: { at: FitSummary; minus: FitSummary; plus: FitSummary };
}

/** How one CG solve ended (‖r‖/‖b‖ as CG last measured it). */
export interface CgSummary {
  status: CgStatusName;
  iterations: number;
  relativeResidual: number;
}

function cgSummary(r: HypergradientResult): CgSummary {
  const { status, iterations, relativeResidual } = r.cg;
  return { status, iterations, relativeResidual };
}

/** How one re-solve ended. */
export type FitSummary = Pick<
  FitResult,
  'status' | 'converged' | 'iterations' | 'gradNorm' | 'initialGradNorm'
>;

function summary(f: FitResult): FitSummary {
  const { status, converged, iterations, gradNorm, initialGradNorm } = f;
  return { status, converged, iterations, gradNorm, initialGradNorm };
}

export async function finiteDifferenceCheck(
  problem: HyperProblem,
  opts: FdCheckOptions = {},
): Promise<FdCheckResult> {
  const i = opts.index ?? 0;
  if (!Number.isInteger(i) || i < 0 || i >= problem.nHyper)
    throw new ArgumentError(
      `finiteDifferenceCheck: index ${i} out of range (${problem.nHyper} hyperparameters)`,
    );
  const oracle = opts.oracle;
  if (!oracle) {
    const d = await differences(problem, i, opts);
    return {
      index: i,
      lambda: d.lambda[i],
      h: d.h,
      finiteDifference: d.fd,
      hypergradient: d.at.hypergradient[i],
      relativeError: relErr(d.at.hypergradient[i], d.fd),
      values: d.values,
      differencedOn: 'problem',
      innerGradNorm: d.at.innerGradNorm,
      cg: cgSummary(d.at),
      fits: d.fits,
    };
  }

  if (oracle.mlp.nParams !== problem.mlp.nParams || oracle.nHyper !== problem.nHyper)
    throw new ArgumentError(
      `finiteDifferenceCheck: the oracle has ${oracle.mlp.nParams} weights and ${oracle.nHyper} hyperparameters, ` +
        `the problem ${problem.mlp.nParams} and ${problem.nHyper}`,
    );
  const before = await problem.hypergradient({ fit: false, cg: opts.cg });
  oracle.setLambda(problem.lambda);
  oracle.setWeights(await problem.getWeights());
  const d = await differences(oracle, i, opts);
  problem.setWeights(d.weights);
  // From q = 0: a warm start from the loose fit's q left f32 CG, which
  // stalls near a relative residual of 1e-4, 1% off on case B.
  const at = await problem.hypergradient({ fit: false, warmStart: false, cg: opts.cg });
  return {
    index: i,
    lambda: d.lambda[i],
    h: d.h,
    finiteDifference: d.fd,
    hypergradient: at.hypergradient[i],
    relativeError: relErr(at.hypergradient[i], d.fd),
    values: d.values,
    differencedOn: 'oracle',
    oracleHypergradient: d.at.hypergradient[i],
    hypergradientBeforeRefit: before.hypergradient[i],
    innerGradNorm: at.innerGradNorm,
    cg: cgSummary(at),
    oracleCg: cgSummary(d.at),
    fits: d.fits,
  };
}

function relErr(g: number, fd: number): number {
  return Math.abs(fd - g) / Math.max(Math.abs(fd), Number.MIN_VALUE);
}

/**
 * Tight fit and hypergradient at the problem's λ, then F at λ_i ± h from
 * that ω*; leaves the problem at λ and ω*.
 */
async function differences(p: HyperProblem, i: number, opts: FdCheckOptions) {
  const f32 = p.backend.eps > 1e-10;
  // h balances truncation O(h²) against the error of F: on f32, F carries
  // about 1e-7 relative rounding, so h = 1e-2 keeps it near 1e-5. On f64 the
  // error of F comes from the re-solves: converged ones (cars MLP, ‖∇‖ ≤
  // 1e-13) gave the same difference for h = 1e-2…1e-4 to 3e-5, and on the
  // ridge c = 0 shows the O(h²): 5.3e-5 at h = 1e-3, 5.7e-7 at 1e-4. Loose
  // re-solves turned h = 1e-4 into 2e-3 error; 1e-3 is the safer default.
  const hRel = opts.hRel ?? (f32 ? 1e-2 : 1e-3);
  // Re-solves stop at 1e-8 of the starting gradient (f64): asking for more
  // than rounding allows keeps Newton stepping on noise, and where H is
  // singular those steps drift along its null space and move F (measured on
  // case B: 4e-10 relative FD error at 1e-8, 8e-6 at 1e-10).
  const fit: FitOptions = { gtol: f32 ? 1e-5 : 1e-8, maxIter: 200, ...opts.fit };
  const lambda = p.lambda;
  const at: HypergradientResult = await p.hypergradient({ fit, cg: opts.cg });
  const weights = await p.getWeights();
  const h = hRel * lambda[i];
  const valueAt = async (sign: number) => {
    const l = [...lambda];
    l[i] += sign * h;
    p.setLambda(l);
    p.setWeights(weights);
    const f = summary(await p.fit(fit));
    return { value: (await p.losses()).val, fit: f };
  };
  try {
    const plus = await valueAt(1);
    const minus = await valueAt(-1);
    return {
      lambda,
      h,
      at,
      weights,
      fd: (plus.value - minus.value) / (2 * h),
      values: { minus: minus.value, at: at.value, plus: plus.value },
      fits: { at: summary(at.fit!), minus: minus.fit, plus: plus.fit },
    };
  } finally {
    p.setLambda(lambda);
    p.setWeights(weights);
  }
}
