// Trust-region conjugate gradient on device buffers (method.md, "Trust-region
// conjugate gradient"), for any symmetric operator v ↦ A·v given as prepared
// ops. The right-hand side is scaled to unit norm before the solve and the
// solution scaled back. α, β and the residual norm are computed by kernels
// into a small state buffer and never leave the device inside the loop: the
// host replays `checkEvery` iterations in one submit, then reads the state
// once to decide whether to go on.

import { AbortError, ArgumentError, ShapeError } from '../errors.js';
import {
  CG,
  CG_STATE_LENGTH,
  CgStatus,
  type Backend,
  type Buf,
  type Op,
} from '../backend/types.js';

/** v ↦ A·v as ops reading `input` and writing `output` (length n each). */
export interface LinearOperator {
  readonly n: number;
  ops(input: Buf, output: Buf): Op[];
}

export type CgStatusName =
  'converged' | 'boundary' | 'negative_curvature' | 'max_iter' | 'zero_rhs' | 'not_finite';

const STATUS_NAMES: Record<number, CgStatusName> = {
  [CgStatus.CONVERGED]: 'converged',
  [CgStatus.BOUNDARY]: 'boundary',
  [CgStatus.NEGATIVE_CURVATURE]: 'negative_curvature',
  [CgStatus.MAX_ITER]: 'max_iter',
  [CgStatus.ZERO_RHS]: 'zero_rhs',
  [CgStatus.NOT_FINITE]: 'not_finite',
  [CgStatus.RUNNING]: 'max_iter',
};

export interface CgOptions {
  /** Stop when ‖r‖ ≤ rtol·‖b‖ + atol. Default 1e-6. */
  rtol?: number;
  /** Default 0. */
  atol?: number;
  /** Default: the dimension n. */
  maxIter?: number;
  /** Trust-region radius Δ on ‖x‖; 0 or undefined: none. */
  radius?: number;
  /** Start from the current content of x (r₀ = b − A·x₀); default false (x₀ = 0). */
  warmStart?: boolean;
  /** Iterations replayed per submit between state readbacks; default 8. */
  checkEvery?: number;
  signal?: AbortSignal;
  /** Called after each readback with the iterations so far and ‖r‖/‖b‖. */
  onProgress?: (p: { iterations: number; relativeResidual: number }) => void;
}

export interface CgResult {
  status: CgStatusName;
  /** True for 'converged' and 'zero_rhs' (the solution is then exact). */
  converged: boolean;
  iterations: number;
  /** ‖r‖ of the recursively updated residual, in the units of b. */
  residualNorm: number;
  /** residualNorm/‖b‖ (0 when b = 0). */
  relativeResidual: number;
  bNorm: number;
  /** Device work of this solve, for budgets and benchmarks. */
  submits: number;
  readbacks: number;
  dispatches: number;
}

/** The prepared ops of one CG variant (with or without radius, warm or cold). */
interface CgPlan {
  init: Op[];
  afterInit: Op[];
  curvature: Op[];
  update: Op;
  direction: Op;
  finish: Op;
}

/**
 * A CG solver bound to one operator and to fixed b and x buffers; build once,
 * solve many times (warm starts reuse x). All scratch is allocated here.
 */
export class ConjugateGradient {
  readonly n: number;
  readonly #b: Backend;
  readonly #rhs: Buf;
  readonly #x: Buf;
  readonly #r: Buf;
  readonly #p: Buf;
  readonly #ap: Buf;
  readonly state: Buf;
  readonly #fixed: Op[] = [];
  readonly #apply: Op[];

  constructor(backend: Backend, op: LinearOperator, rhs: Buf, x: Buf) {
    const n = op.n;
    if (rhs.length !== n || x.length !== n)
      throw new ShapeError(
        `ConjugateGradient: operator of size ${n}, b has ${rhs.length}, x has ${x.length}`,
      );
    this.n = n;
    this.#b = backend;
    this.#rhs = rhs;
    this.#x = x;
    this.#r = backend.createBuffer(n, 'cg.r');
    this.#p = backend.createBuffer(n, 'cg.p');
    this.#ap = backend.createBuffer(n, 'cg.Ap');
    this.state = backend.createBuffer(CG_STATE_LENGTH, 'cg.state');
    this.#apply = op.ops(this.#p, this.#ap);
  }

  #ops(withRadius: boolean, warm: boolean): CgPlan {
    const b = this.#b;
    const { n } = this;
    const S = this.state;
    const keep = (o: Op) => {
      this.#fixed.push(o);
      return o;
    };
    const x = this.#x;
    const r = this.#r;
    const p = this.#p;
    const ap = this.#ap;
    const at = (index: number) => ({ buf: S, index });
    // Built lazily per (radius?, warm?) and cached: four combinations at most.
    const key = `${withRadius}:${warm}`;
    const cached = this.#cache.get(key);
    if (cached) return cached;
    const init: Op[] = [
      keep(b.reduce({ n, x: this.#rhs, out: S, outIndex: CG.RR, label: 'cg.bb' })),
    ];
    // (the 'init' scalar op is per solve: it carries the radius)
    const afterInit: Op[] = [
      keep(b.axpby({ n, a: at(CG.INVB), x: this.#rhs, b: 0, z: r, label: 'cg.r=b/|b|' })),
    ];
    if (warm) {
      afterInit.push(
        keep(b.axpby({ n, a: at(CG.INVB), x, b: 0, z: x, label: 'cg.x/=|b|' })),
        keep(b.axpby({ n, a: 1, x, b: 0, z: p, label: 'cg.p=x' })),
        ...this.#apply,
        keep(b.axpby({ n, a: 1, x: r, b: -1, y: ap, z: r, label: 'cg.r-=Ax' })),
      );
    } else afterInit.push(keep(b.axpby({ n, a: 0, b: 0, z: x, label: 'cg.x=0' })));
    afterInit.push(
      keep(b.axpby({ n, a: 1, x: r, b: 0, z: p, label: 'cg.p=r' })),
      keep(b.reduce({ n, x: r, out: S, outIndex: CG.RR, label: 'cg.rr' })),
    );
    const curvature: Op[] = [
      ...this.#apply,
      keep(b.reduce({ n, x: p, y: ap, out: S, outIndex: CG.PAP, label: 'cg.pAp' })),
    ];
    if (withRadius)
      curvature.push(
        keep(b.reduce({ n, x, out: S, outIndex: CG.XX, label: 'cg.xx' })),
        keep(b.reduce({ n, x, y: p, out: S, outIndex: CG.XP, label: 'cg.xp' })),
        keep(b.reduce({ n, x: p, out: S, outIndex: CG.PP, label: 'cg.pp' })),
      );
    const update = keep(b.cgUpdate({ n, x, p, r, ap, state: S }));
    const direction = keep(
      b.axpby({ n, a: 1, x: r, b: at(CG.BETA), y: p, z: p, label: 'cg.p=r+βp' }),
    );
    const finish = keep(b.axpby({ n, a: at(CG.BNORM), x, b: 0, z: x, label: 'cg.x*=|b|' }));
    const ops = { init, afterInit, curvature, update, direction, finish };
    this.#cache.set(key, ops);
    return ops;
  }
  readonly #cache = new Map<string, CgPlan>();

  async solve(opts: CgOptions = {}): Promise<CgResult> {
    const rtol = opts.rtol ?? 1e-6;
    const atol = opts.atol ?? 0;
    const maxIter = opts.maxIter ?? this.n;
    const radius = opts.radius ?? 0;
    const checkEvery = opts.checkEvery ?? 8;
    if (!(rtol >= 0) || !(atol >= 0) || !(radius >= 0) || !(maxIter >= 0) || !(checkEvery >= 1))
      throw new ArgumentError(
        `CG options out of range: rtol ${rtol}, atol ${atol}, radius ${radius}, maxIter ${maxIter}, checkEvery ${checkEvery}`,
      );
    if (opts.signal?.aborted) throw new AbortError();
    const b = this.#b;
    const before = { ...b.stats };
    const withRadius = radius > 0;
    const o = this.#ops(withRadius, !!opts.warmStart && !withRadius);
    const scalar = (mode: 'init' | 'start' | 'alpha' | 'beta') =>
      b.cgScalar({ state: this.state, mode, rtol, atol, radius, maxIter });
    const perSolve = [scalar('init'), scalar('start'), scalar('alpha'), scalar('beta')];
    const [init, start, alpha, beta] = perSolve;
    try {
      const iteration = [...o.curvature, alpha, o.update, beta, o.direction];
      const chunk: Op[] = [];
      for (let i = 0; i < checkEvery; i++) chunk.push(...iteration);
      // The first submit also carries the set-up, so a solve that converges
      // within checkEvery iterations costs one submit and one readback.
      let first = [...o.init, init, ...o.afterInit, start];
      let s: Float64Array = new Float64Array(CG_STATE_LENGTH);
      const maxChunks = Math.ceil(maxIter / checkEvery) + 1;
      for (let c = 0; c < maxChunks; c++) {
        if (opts.signal?.aborted) throw new AbortError();
        s = await b.runRead(first.length ? [...first, ...chunk] : chunk, this.state);
        first = [];
        opts.onProgress?.({ iterations: s[CG.ITERS], relativeResidual: Math.sqrt(s[CG.RR]) });
        if (s[CG.ACTIVE] === 0) break;
      }
      b.run([o.finish]);
      const bNorm = s[CG.BNORM];
      const rel = Math.sqrt(Math.max(s[CG.RR], 0));
      const status = STATUS_NAMES[s[CG.STATUS]] ?? 'max_iter';
      return {
        status,
        converged: status === 'converged' || status === 'zero_rhs',
        iterations: s[CG.ITERS],
        residualNorm: status === 'zero_rhs' ? 0 : rel * bNorm,
        relativeResidual: status === 'zero_rhs' ? 0 : rel,
        bNorm,
        submits: b.stats.submits - before.submits,
        readbacks: b.stats.readbacks - before.readbacks,
        dispatches: b.stats.dispatches - before.dispatches,
      };
    } finally {
      for (const op of perSolve) op.destroy();
    }
  }

  destroy(): void {
    for (const op of this.#fixed) op.destroy();
    this.#fixed.length = 0;
    this.#cache.clear();
    for (const buf of [this.#r, this.#p, this.#ap, this.state]) this.#b.destroyBuffer(buf);
  }
}
