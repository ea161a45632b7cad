// The inner fit ω*(λ) = argmin_ω L_train(ω, λ) by trust-region Newton-CG
// (the family of the notebook's `trcg`): each step solves H·s = −g with the
// trust-region CG of cg.ts, using Hessian-vector products only, and is
// accepted on the ratio of actual to predicted reduction. Everything runs on
// device buffers; the host reads a handful of scalars per Newton step.

import { AbortError, ArgumentError } from '../errors.js';
import type { Backend, Buf, Op } from '../backend/types.js';
import type { Objective } from '../model/objective.js';
import { ConjugateGradient } from './cg.js';

export interface FitOptions {
  /**
   * 'lbfgs' (default): L-BFGS with a backtracking line search; robust across
   * the kinks of LeakyReLU networks. 'newton': trust-region Newton-CG, fast
   * near a smooth minimum. 'auto': L-BFGS, then Newton-CG from where it stops.
   */
  method?: 'lbfgs' | 'newton' | 'auto';
  /** L-BFGS memory (pairs kept); default 10. */
  memory?: number;
  /** Stop when ‖∇_ω L‖ ≤ max(gtol·‖∇_ω L(ω₀)‖, gatol). Default 1e-6. */
  gtol?: number;
  /** Absolute floor of the stopping test; default 0. */
  gatol?: number;
  /** Iterations at least, even when the start meets the tolerance; default 0. */
  minIter?: number;
  /**
   * Iterations at most: default 100 Newton steps, 500 L-BFGS iterations;
   * 'auto' counts both phases against it.
   */
  maxIter?: number;
  /**
   * L-BFGS: stop ('stalled') when the smallest ‖∇_ω L‖ so far has not halved
   * over the last `stallIter` iterations. Off by default; 'auto' uses 50 for
   * its L-BFGS phase, so that Newton takes over where L-BFGS crawls.
   */
  stallIter?: number;
  /** CG iterations per Newton step; default 200. */
  cgMaxIter?: number;
  /** Initial trust-region radius; default ‖∇_ω L(ω₀)‖ (TRON's choice). */
  radius?: number;
  checkEvery?: number;
  signal?: AbortSignal;
  onProgress?: (p: { iteration: number; loss: number; gradNorm: number }) => void;
}

export interface FitResult {
  /**
   * 'rounding_floor': the model predicts a decrease of L below its rounding
   * level and a step no longer halves ‖g‖: as converged as the arithmetic
   * allows (counted as converged).
   */
  status: 'converged' | 'rounding_floor' | 'max_iter' | 'stalled' | 'not_finite';
  converged: boolean;
  iterations: number;
  cgIterations: number;
  loss: number;
  gradNorm: number;
  initialGradNorm: number;
  rejectedSteps: number;
  negativeCurvatureSteps: number;
  readbacks: number;
  submits: number;
}

/**
 * The stopping test both inner solvers apply before each iteration: a
 * status to stop with, or undefined to go on. Throws AbortError on abort.
 */
export function stopTest(
  loss: number,
  gnorm: number,
  target: number,
  iterations: number,
  maxIter: number,
  opts: FitOptions,
): FitResult['status'] | undefined {
  if (!Number.isFinite(loss) || !Number.isFinite(gnorm)) return 'not_finite';
  if (gnorm <= target && iterations >= (opts.minIter ?? 0)) return 'converged';
  if (iterations >= maxIter) return 'max_iter';
  if (opts.signal?.aborted) throw new AbortError();
  return undefined;
}

// Slots of the report buffer the fit reads back.
const LOSS = 0;
const GNORM = 1;
const GS = 2;
const SHS = 3;
const SNORM = 4;
const REPORT = 5;

/** Newton-CG bound to one objective; build once, fit many times (warm starts). */
export class NewtonFit {
  readonly #b: Backend;
  readonly #obj: Objective;
  readonly #bufs: Buf[];
  readonly #cg: ConjugateGradient;
  readonly #ops: Op[] = [];
  readonly #evaluate: Op[];
  readonly #trial: Op[];
  readonly #restore: Op[];

  constructor(backend: Backend, objective: Objective) {
    this.#b = backend;
    this.#obj = objective;
    const n = objective.mlp.nParams;
    const mk = (len: number, name: string) => backend.createBuffer(len, `newton.${name}`);
    const negG = mk(n, 'negGrad');
    const s = mk(n, 'step');
    const hs = mk(n, 'Hs');
    const saved = mk(n, 'saved');
    const mixed = mk(objective.nHyper, 'mixed');
    const report = mk(REPORT, 'report');
    this.#bufs = [negG, s, hs, saved, mixed, report];
    this.#report = report;
    const w = objective.params;
    const keep = (o: Op) => (this.#ops.push(o), o);
    this.#cg = new ConjugateGradient(
      backend,
      { n, ops: (inp, out) => objective.hvpOps(inp, out, mixed) },
      negG,
      s,
    );
    const stats = [
      keep(
        backend.axpby({
          n: 1,
          a: 1,
          x: objective.value,
          b: 0,
          z: report,
          zOffset: LOSS,
          label: 'newton.loss',
        }),
      ),
      keep(
        backend.reduce({
          n,
          x: objective.grad,
          out: report,
          outIndex: GNORM,
          sqrt: true,
          label: 'newton.gnorm',
        }),
      ),
    ];
    // Every evaluation also leaves −g in the right-hand side of the next
    // Newton system, so the CG solve needs no submit of its own for it.
    this.#evaluate = [
      ...objective.gradientOps,
      ...stats,
      keep(backend.axpby({ n, a: -1, x: objective.grad, b: 0, z: negG, label: 'newton.-g' })),
    ];
    // Predicted reduction terms at ω, then move to ω + s and evaluate there.
    this.#trial = [
      ...objective.hvpOps(s, hs, mixed),
      keep(
        backend.reduce({
          n,
          x: objective.grad,
          y: s,
          out: report,
          outIndex: GS,
          label: 'newton.gs',
        }),
      ),
      keep(backend.reduce({ n, x: s, y: hs, out: report, outIndex: SHS, label: 'newton.sHs' })),
      keep(
        backend.reduce({ n, x: s, out: report, outIndex: SNORM, sqrt: true, label: 'newton.|s|' }),
      ),
      keep(backend.axpby({ n, a: 1, x: w, b: 0, z: saved, label: 'newton.save' })),
      keep(backend.axpby({ n, a: 1, x: s, b: 1, y: w, z: w, label: 'newton.w+=s' })),
      ...this.#evaluate,
    ];
    this.#restore = [
      keep(backend.axpby({ n, a: 1, x: saved, b: 0, z: w, label: 'newton.restore' })),
      ...this.#evaluate,
    ];
  }

  readonly #report: Buf;

  async fit(opts: FitOptions = {}): Promise<FitResult> {
    const gtol = opts.gtol ?? 1e-6;
    const gatol = opts.gatol ?? 0;
    const maxIter = opts.maxIter ?? 100;
    if (!(gtol >= 0) || !(gatol >= 0) || !(maxIter >= 0))
      throw new ArgumentError(`fit: gtol ${gtol}, gatol ${gatol}, maxIter ${maxIter} out of range`);
    const b = this.#b;
    const before = { ...b.stats };
    const eps = b.eps;

    let r = await b.runRead(this.#evaluate, this.#report);
    let loss = r[LOSS];
    let gnorm = r[GNORM];
    const g0 = gnorm;
    const target = Math.max(gtol * g0, gatol);
    let radius = opts.radius ?? Math.max(g0, 1e-3);
    let iterations = 0;
    let cgIterations = 0;
    let rejected = 0;
    let negCurv = 0;
    let consecutiveRejects = 0;
    let status: FitResult['status'] = 'max_iter';

    while (true) {
      const stop = stopTest(loss, gnorm, target, iterations, maxIter, opts);
      if (stop) {
        status = stop;
        break;
      }
      iterations++;

      // Newton step: H·s = −g inside the trust region, to a forcing tolerance.
      const cg = await this.#cg.solve({
        rtol: Math.min(0.5, Math.sqrt(gnorm / Math.max(g0, Number.MIN_VALUE))),
        maxIter: opts.cgMaxIter ?? 200,
        radius,
        checkEvery: opts.checkEvery,
        signal: opts.signal,
      });
      cgIterations += cg.iterations;
      if (cg.status === 'negative_curvature') negCurv++;

      // Ratio of actual to predicted reduction decides acceptance and radius.
      r = await b.runRead(this.#trial, this.#report);
      const snorm = r[SNORM];
      const predicted = -(r[GS] + 0.5 * r[SHS]);
      const actual = loss - r[LOSS];
      const rho = actual / predicted;
      // In finite precision a reduction below the rounding level of L is
      // noise: there, accept a step that lowers the gradient norm instead.
      const belowNoise = Math.abs(predicted) <= 64 * eps * Math.abs(loss);
      const accept =
        Number.isFinite(r[LOSS]) &&
        Number.isFinite(r[GNORM]) &&
        (belowNoise ? r[GNORM] < gnorm : predicted > 0 && rho > 1e-4);
      const gnormBefore = gnorm;
      // Steps whose predicted decrease is below L's rounding cannot be
      // verified; going on lets them drift along H's null space (when H is
      // singular) and move F. Stop: at the rounding floor when ‖g‖ is down to
      // √ε·max(1, |L|), else stalled (a LeakyReLU kink collapses the radius
      // with ‖g‖ far above that).
      const floorOrStall = (): FitResult['status'] =>
        gnorm <= Math.sqrt(eps) * Math.max(1, Math.abs(loss)) ? 'rounding_floor' : 'stalled';
      if (accept) {
        loss = r[LOSS];
        gnorm = r[GNORM];
        consecutiveRejects = 0;
        if (belowNoise && r[GNORM] > 0.5 * gnormBefore) {
          status = floorOrStall();
          break;
        }
        // The quadratic model of a piecewise-linear (LeakyReLU) network is
        // good only between kinks, so ρ of 0.5–0.75 is common: expanding
        // only above 0.75 (the textbook rule) stalled case B's fit.
        if (!belowNoise && rho > 0.25 && snorm >= 0.99 * radius) radius *= 2;
        else if (!belowNoise && rho < 0.25) radius = 0.5 * Math.min(snorm, radius);
      } else {
        rejected++;
        consecutiveRejects++;
        b.run(this.#restore);
        if (belowNoise) {
          status = floorOrStall();
          break;
        }
        radius = 0.25 * Math.min(radius, Math.max(snorm, Number.MIN_VALUE));
        // Twelve rejections in a row shrink the radius 4^12 ≈ 1.7e7-fold: no
        // representable step improves L any more.
        if (snorm === 0 || consecutiveRejects >= 12) {
          status = 'stalled';
          break;
        }
      }
      opts.onProgress?.({ iteration: iterations, loss, gradNorm: gnorm });
    }
    return {
      status,
      converged: status === 'converged' || status === 'rounding_floor',
      iterations,
      cgIterations,
      loss,
      gradNorm: gnorm,
      initialGradNorm: g0,
      rejectedSteps: rejected,
      negativeCurvatureSteps: negCurv,
      readbacks: b.stats.readbacks - before.readbacks,
      submits: b.stats.submits - before.submits,
    };
  }

  destroy(): void {
    this.#cg.destroy();
    for (const o of this.#ops) o.destroy();
    this.#ops.length = 0;
    for (const buf of this.#bufs) this.#b.destroyBuffer(buf);
  }
}
