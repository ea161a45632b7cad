// A finite-difference check of the implicit hypergradient (method.md,
// "Checks"): central differences of F(λ) = L_val(ω*(λ), λ) in one λ_i, with
// the inner problem re-solved tightly at λ_i·(1 ± h), warm-started from ω*.

import type { FitOptions } from './newton.js';
import type { HyperProblem } from './problem.js';

export interface FdCheckOptions {
  /** Which hyperparameter; default 0. */
  index?: number;
  /** Relative step h (λ_i ± h·λ_i); default 1e-2 on f32 backends, 1e-3 on f64. */
  hRel?: number;
  fit?: FitOptions;
}

export interface FdCheckResult {
  index: number;
  lambda: number;
  h: number;
  /** (F(λ+h) − F(λ−h)) / 2h. */
  finiteDifference: number;
  /** The implicit hypergradient at λ, from the same tight inner fit. */
  hypergradient: number;
  relativeError: number;
  values: { minus: number; plus: number };
}

export async function finiteDifferenceCheck(
  problem: HyperProblem,
  opts: FdCheckOptions = {},
): Promise<FdCheckResult> {
  const i = opts.index ?? 0;
  const f32 = problem.backend.eps > 1e-10;
  // h balances truncation O(h²) against the error of F: on f32, F carries
  // about 1e-7 relative rounding, so h = 1e-2 keeps it near 1e-5. On f64 the
  // error of F comes from the re-solves stopping at ‖∇‖ ≈ 1e-8·‖∇₀‖; on the
  // cars MLP h = 1e-4 turned that into 2e-3 relative error, h = 1e-3 into
  // ~1e-5 (truncation ~1e-6).
  const hRel = opts.hRel ?? (f32 ? 1e-2 : 1e-3);
  // Re-solves stop at 1e-8 of the starting gradient (f64): asking for more
  // than rounding allows keeps Newton stepping on noise, and where H is
  // singular those steps drift along its null space and move F (measured on
  // case B: 4e-10 relative FD error at 1e-8, 8e-6 at 1e-10).
  const fit: FitOptions = { gtol: f32 ? 1e-5 : 1e-8, maxIter: 200, ...opts.fit };
  const lambda0 = problem.lambda;
  const hg = await problem.hypergradient({ fit });
  const w = await problem.getWeights();
  const h = hRel * lambda0[i];
  const valueAt = async (sign: number) => {
    const l = [...lambda0];
    l[i] += sign * h;
    problem.setLambda(l);
    problem.setWeights(w);
    await problem.fit(fit);
    return (await problem.losses()).val;
  };
  try {
    const plus = await valueAt(1);
    const minus = await valueAt(-1);
    const fd = (plus - minus) / (2 * h);
    const g = hg.hypergradient[i];
    return {
      index: i,
      lambda: lambda0[i],
      h,
      finiteDifference: fd,
      hypergradient: g,
      relativeError: Math.abs(fd - g) / Math.max(Math.abs(fd), Number.MIN_VALUE),
      values: { minus, plus },
    };
  } finally {
    problem.setLambda(lambda0);
    problem.setWeights(w);
  }
}
