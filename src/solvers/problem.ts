// A bilevel problem on one backend: the model, its weights ω and
// hyperparameters λ in device buffers, the training and validation
// objectives, and the solvers that give the implicit hypergradient
// (method.md, "Hypergradient"):
//
//   1. ω* ≈ argmin_ω L_train(ω, λ)                       (NewtonFit)
//   2. (∇²_ωω L_train + c·I) q = ∇_ω L_val                (ConjugateGradient)
//   3. ∇_λ F = ∇_λ L_val − ∇²_λω L_train · q              (forward-over-reverse)
//
// ω and q persist between calls, so the next fit and the next CG solve start
// warm from the previous ones.

import { ArgumentError, DestroyedError, ShapeError } from '../errors.js';
import type { Backend, Buf, Op } from '../backend/types.js';
import { Mlp, type MlpSpec, type PenaltyKind, hyperCount } from '../model/mlp.js';
import { Objective, type DataSet, checkDataSet } from '../model/objective.js';
import { ConjugateGradient, type CgOptions, type CgResult } from './cg.js';
import { NewtonFit, type FitOptions, type FitResult } from './newton.js';
import { LbfgsFit } from './lbfgs.js';

export interface ProblemOptions {
  model: MlpSpec | Mlp;
  train: DataSet;
  val: DataSet;
  /** One α for all weight matrices, or one per Linear layer. Default 'scalar'. */
  penalty?: PenaltyKind;
  /** Validation loss: plain ½·mean squared error (default) or with the L2 penalty. */
  validation?: 'plain' | 'penalised';
  /** Initial λ: one value, or one per hyperparameter. Default 1. */
  alpha?: number | readonly number[];
  /** Initial weights; default the seeded initialisation with `seed`. */
  weights?: ArrayLike<number>;
  /** Seed of the initial weights (Xorshift32, non-zero). Default 1. */
  seed?: number;
  /** CG damping c in (H + c·I) q = ∇_ω L_val. Default 1e-6. */
  nugget?: number;
  /**
   * Which side of the linear system CG solves. 'validation': one solve
   * (H + cI) q = ∇_ω L_val, then ∇²_λω L·q by forward-over-reverse (method.md
   * as written). 'hyper': one solve (H + cI) p_k = ∇²_ωλ_k L per
   * hyperparameter, then ∇_λ_k F = ∇_λ_k L_val − ⟨∇_ω L_val, p_k⟩. The two
   * are equal in exact arithmetic (H is symmetric), but when H is singular
   * ∇_ω L_val can have a large null-space part, q grows like 1/c and f32
   * loses it; ∇²_ωλ L = W lies in H's range, so p stays bounded (shared
   * reference README, finding 4). 'auto' (default): 'hyper' when there are at
   * most 4 hyperparameters, else 'validation'.
   */
  solve?: 'auto' | 'validation' | 'hyper';
}

export interface HypergradientOptions {
  /** Inner fit options, or false to use the current ω as ω* (no fit). */
  fit?: FitOptions | false;
  /** CG options for step 2 (rtol default: 1e-6 on f32, 1e-10 on f64). */
  cg?: Omit<CgOptions, 'radius'>;
  /** Start CG from the previous q; default true. */
  warmStart?: boolean;
  signal?: AbortSignal;
}

export interface HypergradientResult {
  /** ∇_λ F, one entry per hyperparameter. */
  hypergradient: number[];
  /** F(λ) = L_val(ω*, λ). */
  value: number;
  trainLoss: number;
  /** ‖∇_ω L_train(ω*)‖ where the hypergradient was taken. */
  innerGradNorm: number;
  lambda: number[];
  fit?: FitResult;
  cg: CgResult;
  /**
   * False when a step did not do what the formula assumes: the inner fit did
   * not converge, or CG stopped on negative curvature or without converging.
   * `warnings` says which. The number is then not the derivative of F.
   */
  valid: boolean;
  warnings: string[];
}

// Slots of the report buffer read after step 3.
const TRAIN_LOSS = 0;
const TRAIN_GNORM = 1;
const VAL_LOSS = 2;
const HG = 3;

export class HyperProblem {
  readonly backend: Backend;
  readonly mlp: Mlp;
  readonly penalty: PenaltyKind;
  readonly validation: 'plain' | 'penalised';
  readonly nugget: number;
  readonly nHyper: number;
  readonly solveSide: 'validation' | 'hyper';
  readonly params: Buf;
  readonly hyper: Buf;
  readonly train: Objective;
  readonly val: Objective;
  #lambda: number[];
  #destroyed = false;
  #qWarm = false;
  readonly #q: Buf;
  readonly #hq: Buf;
  readonly #mixed: Buf;
  readonly #report: Buf;
  readonly #newton: NewtonFit;
  #lbfgs?: LbfgsFit;
  readonly #cg: ConjugateGradient;
  readonly #linearize: Op[];
  readonly #step3: Op[];
  /** Hyper side: per k, set up the right-hand side and warm start, then collect. */
  readonly #hyperSetup: Op[][] = [];
  readonly #hyperCollect: Op[][] = [];
  readonly #hyperCg?: ConjugateGradient;
  readonly #hyperBufs: Buf[] = [];
  readonly #ops: Op[] = [];

  constructor(backend: Backend, opts: ProblemOptions) {
    this.backend = backend;
    this.mlp = opts.model instanceof Mlp ? opts.model : new Mlp(opts.model);
    this.penalty = opts.penalty ?? 'scalar';
    this.validation = opts.validation ?? 'plain';
    this.nugget = opts.nugget ?? 1e-6;
    if (!(this.nugget >= 0)) throw new ArgumentError(`nugget must be ≥ 0, got ${this.nugget}`);
    this.nHyper = hyperCount(this.mlp, this.penalty);
    checkDataSet(this.mlp, opts.train, 'training data');
    checkDataSet(this.mlp, opts.val, 'validation data');
    this.#lambda = this.#checkLambda(opts.alpha ?? 1);
    const w0 = opts.weights ?? this.mlp.init(opts.seed ?? 1);
    this.mlp.checkParams(w0, 'initial weights');

    // Release what was allocated if construction fails part-way.
    try {
      const n = this.mlp.nParams;
      this.params = backend.createBuffer(n, 'weights');
      this.hyper = backend.createBuffer(this.nHyper, 'lambda');
      backend.write(this.params, w0);
      backend.write(this.hyper, this.#lambda);
      this.train = new Objective(backend, this.mlp, this.params, this.hyper, opts.train, {
        penalised: true,
        penalty: this.penalty,
        label: 'train',
      });
      this.val = new Objective(backend, this.mlp, this.params, this.hyper, opts.val, {
        penalised: this.validation === 'penalised',
        penalty: this.penalty,
        label: 'val',
      });
      this.#q = backend.createBuffer(n, 'q');
      this.#hq = backend.createBuffer(n, 'Hq');
      this.#mixed = backend.createBuffer(this.nHyper, 'mixed');
      this.#report = backend.createBuffer(HG + this.nHyper, 'report');
      this.#newton = new NewtonFit(backend, this.train);
      const scratch = backend.createBuffer(this.nHyper, 'cg.mixed');
      this.#scratch = scratch;
      this.#cg = new ConjugateGradient(
        backend,
        { n, ops: (inp, out) => this.train.hvpOps(inp, out, scratch, this.nugget) },
        this.val.grad,
        this.#q,
      );
      const keep = (o: Op) => (this.#ops.push(o), o);
      const R = this.#report;
      this.#linearize = [...this.train.gradientOps, ...this.val.gradientOps];
      const side = opts.solve ?? 'auto';
      this.solveSide = side === 'auto' ? (this.nHyper <= 4 ? 'hyper' : 'validation') : side;
      if (this.solveSide === 'hyper') {
        // Warm starts p_k live side by side in one buffer; CG works on `adj`.
        const cross = backend.createBuffer(n, 'cross');
        const adj = backend.createBuffer(n, 'adjoint');
        const saved = backend.createBuffer(n * this.nHyper, 'adjoints');
        this.#hyperBufs.push(cross, adj, saved);
        this.#hyperCg = new ConjugateGradient(
          backend,
          { n, ops: (inp, out) => this.train.hvpOps(inp, out, scratch, this.nugget) },
          cross,
          adj,
        );
        for (let k = 0; k < this.nHyper; k++) {
          this.#hyperSetup.push([
            ...this.train.crossOps(k, cross),
            keep(
              backend.axpby({
                n,
                a: 1,
                x: saved,
                xOffset: k * n,
                b: 0,
                z: adj,
                label: 'adjoint.load',
              }),
            ),
          ]);
          this.#hyperCollect.push([
            keep(
              backend.axpby({
                n,
                a: 1,
                x: adj,
                b: 0,
                z: saved,
                zOffset: k * n,
                label: 'adjoint.store',
              }),
            ),
            keep(
              backend.reduce({
                n,
                x: this.val.grad,
                y: adj,
                out: this.#mixed,
                outIndex: k,
                label: 'adjoint.dot',
              }),
            ),
          ]);
        }
      }
      this.#step3 = [
        ...(this.solveSide === 'validation'
          ? this.train.hvpOps(this.#q, this.#hq, this.#mixed)
          : []),
        keep(
          backend.axpby({
            n: this.nHyper,
            a: 1,
            x: this.val.hyperGrad,
            b: -1,
            y: this.#mixed,
            z: R,
            zOffset: HG,
            label: 'hg',
          }),
        ),
        keep(
          backend.axpby({
            n: 1,
            a: 1,
            x: this.train.value,
            b: 0,
            z: R,
            zOffset: TRAIN_LOSS,
            label: 'report.train',
          }),
        ),
        keep(
          backend.axpby({
            n: 1,
            a: 1,
            x: this.val.value,
            b: 0,
            z: R,
            zOffset: VAL_LOSS,
            label: 'report.val',
          }),
        ),
        keep(
          backend.reduce({
            n,
            x: this.train.grad,
            out: R,
            outIndex: TRAIN_GNORM,
            sqrt: true,
            label: 'report.gnorm',
          }),
        ),
      ];
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  readonly #scratch: Buf;

  #check(): void {
    if (this.#destroyed) throw new DestroyedError('this HyperProblem was destroyed');
  }

  #checkLambda(alpha: number | readonly number[]): number[] {
    const l = typeof alpha === 'number' ? new Array<number>(this.nHyper).fill(alpha) : [...alpha];
    if (l.length !== this.nHyper)
      throw new ShapeError(
        `λ has ${l.length} values; the '${this.penalty}' penalty needs ${this.nHyper}`,
      );
    for (const a of l)
      if (!(a >= 0) || !Number.isFinite(a))
        throw new ArgumentError(`λ must be finite and ≥ 0, got [${l}]`);
    return l;
  }

  get lambda(): number[] {
    return [...this.#lambda];
  }

  setLambda(alpha: number | readonly number[]): void {
    this.#check();
    this.#lambda = this.#checkLambda(alpha);
    this.backend.write(this.hyper, this.#lambda);
  }

  setWeights(w: ArrayLike<number>): void {
    this.#check();
    this.mlp.checkParams(w);
    this.backend.write(this.params, w);
  }

  async getWeights(): Promise<Float64Array> {
    this.#check();
    return this.backend.read(this.params);
  }

  /** Clears the CG warm start (the next solve starts from q = 0). */
  resetWarmStart(): void {
    this.#qWarm = false;
  }

  /** Step 1: ω ← argmin_ω L_train(ω, λ), from the current ω. */
  async fit(opts: FitOptions = {}): Promise<FitResult> {
    this.#check();
    const method = opts.method ?? 'lbfgs';
    if (method === 'newton') return this.#newton.fit(opts);
    const memory = opts.memory ?? 10;
    if (this.#lbfgs?.m !== memory) {
      this.#lbfgs?.destroy();
      this.#lbfgs = new LbfgsFit(this.backend, this.train, memory);
    }
    if (method === 'lbfgs') return this.#lbfgs.fit(opts);
    // 'auto': L-BFGS while far away (to 1e-3 of the starting gradient, or
    // the target if that is looser), then Newton-CG, which converges
    // quadratically near a strict minimum where L-BFGS crawls. L-BFGS also
    // hands over when it stops making progress: from a warm start on the
    // cars MLP (‖∇‖ = 3.8e-4) it spent 1000 iterations between 1e-4 and
    // 4e-6 without reaching 1e-3 of the start; Newton from there took 240.
    const gtol = opts.gtol ?? 1e-6;
    const first = await this.#lbfgs.fit({
      ...opts,
      gtol: Math.max(gtol, 1e-3),
      stallIter: opts.stallIter ?? 50,
    });
    const target = Math.max(gtol * first.initialGradNorm, opts.gatol ?? 0);
    // maxIter bounds both phases together: Newton gets what L-BFGS left.
    const left = opts.maxIter === undefined ? undefined : opts.maxIter - first.iterations;
    if (first.gradNorm <= target || first.status === 'not_finite' || (left ?? 1) <= 0) return first;
    opts = { ...opts, minIter: 0 };
    const second = await this.#newton.fit({ ...opts, gtol: 0, gatol: target, maxIter: left });
    return {
      ...second,
      iterations: first.iterations + second.iterations,
      initialGradNorm: first.initialGradNorm,
      rejectedSteps: first.rejectedSteps + second.rejectedSteps,
      readbacks: first.readbacks + second.readbacks,
      submits: first.submits + second.submits,
    };
  }

  /** Training and validation losses at the current ω and λ. */
  async losses(): Promise<{ train: number; val: number }> {
    this.#check();
    const [t] = await this.backend.runRead(
      [...this.train.valueOps, ...this.val.valueOps],
      this.train.value,
    );
    const [v] = await this.backend.read(this.val.value);
    return { train: t, val: v };
  }

  /** Steps 1–3 at the current λ. */
  async hypergradient(opts: HypergradientOptions = {}): Promise<HypergradientResult> {
    this.#check();
    const b = this.backend;
    const warnings: string[] = [];
    let fit: FitResult | undefined;
    if (opts.fit !== false) {
      fit = await this.fit({ ...opts.fit, signal: opts.fit?.signal ?? opts.signal });
      if (!fit.converged)
        warnings.push(
          `inner fit ${fit.status} at ‖∇_ω L_train‖ = ${fit.gradNorm.toExponential(3)} after ${fit.iterations} iterations`,
        );
    }

    // Step 2: (H + c·I) q = ∇_ω L_val at ω* (or the hyper side, see `solve`).
    b.run(this.#linearize);
    const cgOpts = {
      rtol: b.kind === 'cpu' ? 1e-10 : 1e-6,
      maxIter: Math.max(this.mlp.nParams, 10),
      ...opts.cg,
      warmStart: this.#qWarm && opts.warmStart !== false,
      signal: opts.cg?.signal ?? opts.signal,
    };
    let cg: CgResult;
    if (this.solveSide === 'validation') cg = await this.#cg.solve(cgOpts);
    else {
      const results: CgResult[] = [];
      for (let k = 0; k < this.nHyper; k++) {
        b.run(this.#hyperSetup[k]);
        results.push(await this.#hyperCg!.solve(cgOpts));
        b.run(this.#hyperCollect[k]);
      }
      cg = mergeCg(results);
    }
    this.#qWarm = cg.status !== 'not_finite';
    if (cg.status === 'negative_curvature')
      warnings.push(
        `CG met negative curvature (pᵀ(H + cI)p ≤ 0) after ${cg.iterations} iterations: the Hessian is not positive definite at this ω, so ω is not a strict local minimum`,
      );
    else if (!cg.converged)
      warnings.push(
        `CG ${cg.status} after ${cg.iterations} iterations, ‖r‖/‖b‖ = ${cg.relativeResidual.toExponential(3)}`,
      );

    // Step 3: ∇_λ F = ∇_λ L_val − ∇²_λω L_train · q.
    const r = await b.runRead(this.#step3, this.#report);
    const hg = Array.from(r.subarray(HG, HG + this.nHyper));
    if (!hg.every(Number.isFinite)) warnings.push('the hypergradient is not finite');
    return {
      hypergradient: hg,
      value: r[VAL_LOSS],
      trainLoss: r[TRAIN_LOSS],
      innerGradNorm: r[TRAIN_GNORM],
      lambda: this.lambda,
      fit,
      cg,
      valid: warnings.length === 0,
      warnings,
    };
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    // Members may be missing when the constructor failed part-way.
    this.#cg?.destroy();
    this.#hyperCg?.destroy();
    for (const buf of this.#hyperBufs) this.backend.destroyBuffer(buf);
    this.#newton?.destroy();
    this.#lbfgs?.destroy();
    for (const o of this.#ops) o.destroy();
    this.train?.destroy();
    this.val?.destroy();
    for (const buf of [
      this.params,
      this.hyper,
      this.#q,
      this.#hq,
      this.#mixed,
      this.#report,
      this.#scratch,
    ])
      if (buf) this.backend.destroyBuffer(buf);
  }
}

/** One CgResult for the per-hyperparameter solves: the worst status, summed work. */
function mergeCg(rs: CgResult[]): CgResult {
  const rank = [
    'converged',
    'zero_rhs',
    'boundary',
    'max_iter',
    'negative_curvature',
    'not_finite',
  ];
  const worst = rs.reduce((a, r) => (rank.indexOf(r.status) > rank.indexOf(a.status) ? r : a));
  const sum = (f: (r: CgResult) => number) => rs.reduce((a, r) => a + f(r), 0);
  return {
    ...worst,
    converged: rs.every((r) => r.converged),
    iterations: sum((r) => r.iterations),
    relativeResidual: Math.max(...rs.map((r) => r.relativeResidual)),
    submits: sum((r) => r.submits),
    readbacks: sum((r) => r.readbacks),
    dispatches: sum((r) => r.dispatches),
  };
}
