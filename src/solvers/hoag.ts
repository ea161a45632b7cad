// The HOAG outer loop (Pedregosa 2016; method.md, "HOAG outer loop"):
// gradient descent on θ = log λ with inexact hypergradients whose
// tolerances tighten from step to step, an adaptive step 1/L with rejection
// of steps that raise the objective, and warm starts of the inner fit (ω
// stays in its buffer) and of CG (q stays in its buffer).

import { AbortError, ArgumentError } from '../errors.js';
import type { HyperProblem, HypergradientResult } from './problem.js';
import type { FitOptions } from './newton.js';
import type { CgOptions } from './cg.js';

export type ToleranceSchedule = 'exponential' | 'quadratic' | 'cubic';

export interface HoagOptions {
  /** Outer steps (hypergradient evaluations); default 20. */
  steps?: number;
  /** ε_k: 'exponential' ε₀·0.9^k (default), 'quadratic' ε₀/k², 'cubic' ε₀/k³. */
  schedule?: ToleranceSchedule;
  /** ε₀; default 1e-3 (as Pedregosa's reference implementation). */
  tolerance0?: number;
  /** Floor of ε_k; default 1e-6 on f32 backends, 1e-10 on f64. */
  toleranceFloor?: number;
  /** Clip range of λ (θ = log λ is clipped to its log); default [1e-10, 1e6]. */
  lambdaMin?: number;
  lambdaMax?: number;
  /** Initial step in θ: the first step moves θ by at most this; default 1. */
  initialStep?: number;
  /**
   * Largest change of any θ_i = log λ_i in one step; default 1 (a factor e
   * in λ). The step size 1/L comes from the first gradient, which can be
   * tiny far from the optimum; the cap keeps a later, larger gradient from
   * throwing λ across its whole range.
   */
  maxStep?: number;
  /**
   * A step is rejected when F rises above the best value by more than
   * margin·ε_k·|F_best| (slack for the inexact inner solves); default 0.1.
   */
  margin?: number;
  /**
   * Factor on the step size 1/L after a step that lowered F; default 1.5.
   * (Pedregosa's HOAG uses 1/0.95; on the reference ridge A2, whose θ-gradient
   * shrinks with λ, that needed hundreds of steps to cover the 6.4 e-folds
   * from λ = 1 to the optimum.) A rejected step halves it.
   */
  grow?: number;
  /** Stop once a step changes θ by less than this (∞-norm) and ε_k has reached its floor; default 1e-4. */
  thetaTol?: number;
  /** Options of the inner fit; gtol and gatol are set from ε_k. */
  fit?: Omit<FitOptions, 'gtol' | 'gatol' | 'signal'>;
  cgCheckEvery?: number;
  /** Called at each CG readback of every hypergradient solve (iterations, ‖r‖/‖b‖). */
  onCgProgress?: CgOptions['onProgress'];
  signal?: AbortSignal;
  onStep?: (step: HoagStep) => void;
}

export interface HoagStep {
  k: number;
  lambda: number[];
  /** F(λ) = L_val(ω*(λ)). */
  value: number;
  hypergradient: number[];
  trainLoss: number;
  tolerance: number;
  /** 1/L, the step size in θ used from this point. */
  stepSize: number;
  accepted: boolean;
  /** Why a step was rejected, or a warning of the hypergradient. */
  reason?: string;
  innerIterations: number;
  cgIterations: number;
  innerGradNorm: number;
  cgStatus: string;
  valid: boolean;
  seconds: number;
}

export interface HoagResult {
  lambda: number[];
  value: number;
  /** The value at the first λ, for "before and after" reports. */
  initialValue: number;
  history: HoagStep[];
  /** Per hyperparameter: clipped at λmin / λmax at the end. */
  atLowerBound: boolean[];
  atUpperBound: boolean[];
  /** 'theta_tol' when steps became smaller than thetaTol, else 'steps'. */
  stoppedBy: 'theta_tol' | 'steps';
  innerIterations: number;
  cgIterations: number;
  seconds: number;
  warnings: string[];
}

export function toleranceAt(
  k: number,
  schedule: ToleranceSchedule,
  eps0: number,
  floor: number,
): number {
  // Integer powers by repeated multiplication: each step is exactly rounded,
  // so every JavaScript engine gives the same bits (the engines' ** differ in
  // the last place, and the demo's test compares a browser's run with Node's).
  let e = eps0;
  if (schedule === 'exponential') for (let i = 0; i < k; i++) e *= 0.9;
  else {
    const m = k + 1;
    e /= schedule === 'quadratic' ? m * m : m * m * m;
  }
  return Math.max(e, floor);
}

export async function hoag(problem: HyperProblem, opts: HoagOptions = {}): Promise<HoagResult> {
  const steps = opts.steps ?? 20;
  const schedule = opts.schedule ?? 'exponential';
  const eps0 = opts.tolerance0 ?? 1e-3;
  const floor = opts.toleranceFloor ?? (problem.backend.eps < 1e-10 ? 1e-10 : 1e-6);
  const lmin = opts.lambdaMin ?? 1e-10;
  const lmax = opts.lambdaMax ?? 1e6;
  const margin = opts.margin ?? 0.1;
  const grow = opts.grow ?? 1.5;
  const thetaTol = opts.thetaTol ?? 1e-4;
  const maxStep = opts.maxStep ?? 1;
  if (
    !(steps >= 1) ||
    !(eps0 > 0) ||
    !(lmin > 0) ||
    !(lmax > lmin) ||
    !['exponential', 'quadratic', 'cubic'].includes(schedule)
  )
    throw new ArgumentError(
      `hoag: options out of range (steps ${steps}, tolerance0 ${eps0}, λ range [${lmin}, ${lmax}], schedule ${schedule})`,
    );
  const [tmin, tmax] = [Math.log(lmin), Math.log(lmax)];
  const clip = (t: number) => Math.min(Math.max(t, tmin), tmax);
  const started = performance.now();

  let theta = problem.lambda.map((l) => clip(Math.log(Math.max(l, lmin))));
  problem.setLambda(theta.map(Math.exp));
  const history: HoagStep[] = [];
  const warnings: string[] = [];
  let innerTotal = 0;
  let cgTotal = 0;
  let stepSize = NaN; // 1/L, set from the first hypergradient
  let eps = eps0;
  let gref = NaN; // ‖∇_ω L_train‖ at the first start: the scale of the tolerance floor
  // The last accepted point: θ, ω, F and the gradient in θ there.
  let best:
    { theta: number[]; weights: Float64Array; value: number; gradTheta: number[] } | undefined;
  let stoppedBy: HoagResult['stoppedBy'] = 'steps';
  let refresh = false; // this evaluation re-measures the best point

  for (let k = 0; k < steps; k++) {
    if (opts.signal?.aborted) throw new AbortError();
    const t0 = performance.now();
    const tolK = Math.min(eps, toleranceAt(k, schedule, eps0, floor));
    let r: HypergradientResult;
    r = await problem.hypergradient({
      // Each inner fit reduces ‖∇_ω L_train‖ by ε_k from where its warm start
      // left it, down to the floor (relative to the first gradient norm).
      // An absolute ε_k·‖∇₀‖ instead (even with one iteration at least) left
      // ω* too inexact near the optimum: HOAG stalled 7–39% short of A2's α*.
      // The price is that every fit works; cap it with fit.maxIter.
      fit: {
        ...opts.fit,
        gtol: tolK,
        gatol: Number.isFinite(gref) ? floor * gref : 0,
        signal: opts.signal,
      },
      cg: { rtol: tolK, checkEvery: opts.cgCheckEvery, onProgress: opts.onCgProgress },
      signal: opts.signal,
    });
    if (!Number.isFinite(gref)) gref = r.fit?.initialGradNorm ?? r.innerGradNorm;
    innerTotal += r.fit?.iterations ?? 0;
    cgTotal += r.cg.iterations;
    const gradTheta = r.hypergradient.map((g, i) => g * r.lambda[i]);
    const finite = Number.isFinite(r.value) && gradTheta.every(Number.isFinite);

    // Accept or reject the point just evaluated.
    let accepted = true;
    let reason = r.warnings.length ? r.warnings.join('; ') : undefined;
    if (!finite) {
      accepted = false;
      reason = `not finite: F = ${r.value}, hypergradient [${r.hypergradient}]`;
    } else if (
      best &&
      !refresh &&
      r.value > best.value + (margin * tolK + 64 * problem.backend.eps) * Math.abs(best.value)
    ) {
      accepted = false;
      reason = `F rose from ${best.value.toPrecision(6)} to ${r.value.toPrecision(6)}: step rejected, step size halved`;
    }
    if (accepted) {
      if (!Number.isFinite(stepSize)) {
        const gmax = Math.max(...gradTheta.map(Math.abs));
        stepSize = (opts.initialStep ?? 1) / Math.max(gmax, 1e-12);
      } else if (best && !refresh) {
        // Barzilai–Borwein: the secant step sᵀs/sᵀy of the last two accepted
        // points when the curvature along s is positive, else grow.
        const sv = theta.map((t, i) => t - best!.theta[i]);
        const yv = gradTheta.map((g, i) => g - best!.gradTheta[i]);
        const sy = sv.reduce((a, x, i) => a + x * yv[i], 0);
        const ss = sv.reduce((a, x) => a + x * x, 0);
        // Capped at 10× the last step: near the optimum sᵀy is rounding-sized.
        stepSize = sy > 0 && ss > 0 ? Math.min(ss / sy, 10 * stepSize) : stepSize * grow;
      }
      best = { theta: [...theta], weights: await problem.getWeights(), value: r.value, gradTheta };
    } else {
      if (!best) {
        // Nothing to go back to: the very first point is unusable.
        history.push(stepRecord());
        throw new ArgumentError(
          `hoag: the hypergradient at the initial λ = [${r.lambda}] is unusable (${reason})`,
        );
      }
      stepSize *= 0.5;
      eps *= 0.5;
      problem.setWeights(best.weights);
      problem.resetWarmStart();
    }
    history.push(stepRecord());
    opts.onStep?.(history[history.length - 1]);
    const wasRefresh = refresh;
    refresh = false;
    if (!accepted) {
      // Re-evaluate the best point at the tighter tolerance before stepping
      // again: its F came from a looser inner solve and may be too low.
      theta = [...best!.theta];
      problem.setLambda(theta.map(Math.exp));
      refresh = true;
      continue;
    }

    // Step θ from the last accepted point along its gradient, clipped.
    const from = best!;
    const next = from.theta.map((t, i) =>
      clip(t - Math.max(-maxStep, Math.min(maxStep, stepSize * from.gradTheta[i]))),
    );
    const move = Math.max(...next.map((t, i) => Math.abs(t - theta[i])));
    theta = next;
    problem.setLambda(theta.map(Math.exp));
    // A small step only means convergence once the hypergradients are
    // accurate: with a loose ε_k the step can stall short of the optimum.
    if (!wasRefresh && move < thetaTol && tolK <= floor) {
      stoppedBy = 'theta_tol';
      break;
    }

    function stepRecord(): HoagStep {
      return {
        k,
        lambda: r.lambda,
        value: r.value,
        hypergradient: r.hypergradient,
        trainLoss: r.trainLoss,
        tolerance: tolK,
        stepSize,
        accepted,
        reason,
        innerIterations: r.fit?.iterations ?? 0,
        cgIterations: r.cg.iterations,
        innerGradNorm: r.innerGradNorm,
        cgStatus: r.cg.status,
        valid: r.valid,
        seconds: (performance.now() - t0) / 1000,
      };
    }
  }

  // End at the best accepted point (its ω is restored into the problem).
  const b = best!;
  problem.setLambda(b.theta.map(Math.exp));
  problem.setWeights(b.weights);
  const lambda = b.theta.map(Math.exp);
  const atLowerBound = b.theta.map((t) => t <= tmin + 1e-12);
  const atUpperBound = b.theta.map((t) => t >= tmax - 1e-12);
  if (atLowerBound.some(Boolean))
    warnings.push(
      `λ reached its lower bound ${lmin} (the optimum may be λ = 0, outside the log-space range)`,
    );
  if (atUpperBound.some(Boolean)) warnings.push(`λ reached its upper bound ${lmax}`);
  return {
    lambda,
    value: b.value,
    initialValue: history[0].value,
    history,
    atLowerBound,
    atUpperBound,
    stoppedBy,
    innerIterations: innerTotal,
    cgIterations: cgTotal,
    seconds: (performance.now() - started) / 1000,
    warnings,
  };
}
